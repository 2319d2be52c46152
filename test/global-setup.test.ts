import net from 'node:net';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import globalSetup, { checkServices, report } from './global-setup.js';
import { freePort } from './support/spawned-app.js';

/*
 * What CI would not notice: a suite that skips. Under CI=true, every service a suite needs must
 * be there, or the run fails before any suite starts.
 */

let listening: net.Server;
let port = 0;
beforeAll(async () => {
  port = await freePort();
  listening = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => listening.listen(port, '127.0.0.1', resolve));
});
afterAll(() => new Promise<void>((resolve) => listening.close(() => resolve())));

/** Everything present: both URLs answer (a listener of the test's own), and "Chromium" exists. */
const present = () => ({
  DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test`,
  REDIS_URL: `redis://127.0.0.1:${port}`,
});
const CHROMIUM_HERE = process.execPath;

describe('test/global-setup.ts', () => {
  test('everything present: no problem, every verdict up', async () => {
    expect(await checkServices(present(), CHROMIUM_HERE)).toEqual({
      verdicts: { POSTGRES: 'up', REDIS: 'up', CHROMIUM: 'up' },
      problems: [],
    });
  });

  test.each([
    ['DATABASE_URL unset', { DATABASE_URL: undefined }, CHROMIUM_HERE, /DATABASE_URL is unset/],
    ['REDIS_URL unset', { REDIS_URL: undefined }, CHROMIUM_HERE, /REDIS_URL is unset/],
    ['DATABASE_URL not PostgreSQL', { DATABASE_URL: 'sqlite:/tmp/x.sqlite' }, CHROMIUM_HERE, /is not a postgres: URL/],
    ['REDIS_URL unreachable', { REDIS_URL: 'redis://127.0.0.1:1' }, CHROMIUM_HERE, /REDIS_URL=.* is unreachable/],
    ['Chromium missing', {}, '/nonexistent/chromium', /\/nonexistent\/chromium is missing/],
  ])('%s: fails the run under CI=true, only warns elsewhere', async (_name, change, chromium, message) => {
    const { problems } = await checkServices({ ...present(), ...change }, chromium);
    expect(problems).toHaveLength(1);
    expect(() => report(problems, true)).toThrow(message);
    expect(() => report(problems, true)).toThrow(/Under CI=true this fails the run/);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      report(problems, false);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/SKIPPED/);
    } finally {
      warn.mockRestore();
    }
  });

  test('the setup jest runs fails under CI=true when DATABASE_URL is unset', async () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, present(), { CI: 'true' });
      delete process.env.DATABASE_URL;
      await expect(globalSetup()).rejects.toThrow(/DATABASE_URL is unset/);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });
});
