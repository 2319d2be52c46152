import { setTimeout as sleep } from 'node:timers/promises';
import { createStream, getStats } from '../support/sample-app.js';
import { spawnSampleApp, type SpawnedApp } from '../support/spawned-app.js';
import {
  expectExactRun,
  fingerprint,
  followUntilFinal,
  RawSseClient,
  sequenceOf,
  type SseFrame,
} from '../support/fault-sse.js';
import { eventually } from '../support/eventually.js';
import { mulberry32 } from '../support/prng.js';

/*
 * Issue 7, fault "client resets the socket mid-frame". Against the built sample app as its own
 * process, with large events (200 kB: every frame spans many TCP segments), a client goes away
 * in the middle of a frame: RST (socket.resetAndDestroy()) while the event is being written, FIN
 * after half a frame, or it stops reading half-way through a frame and then vanishes. Each time
 * the stream and the other clients are unaffected, the server detaches the client (stats), keeps
 * serving, and the client resuming with its last complete id continues exactly: its events
 * before and after the cut are the stream's events, once each, in order.
 */

const SIZE = 200_000;
const EVENTS = 50;
const INTERVAL_MS = 50;

type Cut = 'reset' | 'close' | 'pause-then-reset';

describe('a client that goes away mid-frame (built sample app process)', () => {
  let app: SpawnedApp;
  beforeAll(async () => {
    app = await spawnSampleApp({ RETENTION_MS: '60000', HEARTBEAT_MS: '0' });
  });
  afterAll(async () => {
    await app.stop();
  });

  async function serverClients(): Promise<number> {
    return (await getStats(app.baseUrl)).clients;
  }

  it.each<[Cut]>([['reset'], ['close'], ['pause-then-reset']])(
    '%s in the middle of a large frame: others unaffected, detached, resumes exactly',
    async (how) => {
      const { url } = await createStream(app.baseUrl, {
        events: EVENTS,
        size: SIZE,
        intervalMs: INTERVAL_MS,
        startDelayMs: 200,
      });
      const others = [new RawSseClient(url), new RawSseClient(url)];
      const victim = new RawSseClient(url);
      let cutAt: { events: number; partialChars: number } | undefined;
      victim.onChunk = (client) => {
        if (cutAt || client.events.length < 3 || !client.inFrame || client.partialChars < 2_000) return;
        cutAt = { events: client.events.length, partialChars: client.partialChars };
        if (how === 'reset') client.reset();
        else if (how === 'close') client.close();
        else client.pause();
      };
      await victim.waitFor(() => cutAt !== undefined, 20_000);
      expect(cutAt!.partialChars).toBeLessThan(SIZE);
      if (how === 'pause-then-reset') {
        // Half a frame read, then nothing: the server's writes back up behind it.
        await sleep(600);
        victim.reset();
      }
      await victim.done;
      // The server lets go of it while the stream and the two others go on.
      await eventually(async () => (await serverClients()) <= 2, 10_000);
      expect(others.every((client) => !client.ended)).toBe(true);

      // What it had before the cut: complete events only, exactly the first ones.
      const before = victim.events;
      expectExactRun(before, { label: 'victim before the cut' });
      expect(before.length).toBeGreaterThanOrEqual(3);
      const lastComplete = victim.lastEventId!;
      expect(sequenceOf(lastComplete)).toBe(before.length);

      // Resumed with its last complete id: exactly the rest (reconnecting again if it is cut as slow).
      const resumed = await followUntilFinal(() => url, { startAfter: lastComplete });
      expectExactRun(resumed.events, { after: before.length, final: 'done', label: 'victim resumed' });

      await Promise.all(others.map((client) => client.done));
      for (const [index, client] of others.entries()) {
        expectExactRun(client.events, { final: 'done', label: `other ${index}` });
        expect(client.events).toHaveLength(EVENTS + 1);
      }
      expect(fingerprint([...before, ...resumed.events])).toEqual(fingerprint(others[0].events));
      await eventually(async () => (await serverClients()) === 0, 10_000);
    },
    40_000,
  );

  it('a client cut at random points (RST and FIN, seeded) ends with exactly the whole stream', async () => {
    const { url } = await createStream(app.baseUrl, { events: EVENTS, size: SIZE, intervalMs: INTERVAL_MS });
    const reference = new RawSseClient(url);
    const random = mulberry32(7);
    let cuts = 0;
    let cutMidFrame = 0;
    const result = await followUntilFinal(() => url, {
      retryMs: 20,
      cut: (client) => {
        // Somewhere after 0.2 to 2 events' worth of bytes on this connection.
        if (client.bytesReceived < (0.2 + 1.8 * random()) * SIZE) return undefined;
        cuts++;
        if (client.inFrame) cutMidFrame++;
        return random() < 0.5 ? 'reset' : 'close';
      },
    });
    await reference.done;
    expectExactRun(result.events, { final: 'done', label: 'cut client' });
    expect(fingerprint(result.events)).toEqual(fingerprint(reference.events));
    expect(cuts).toBeGreaterThan(5);
    expect(cutMidFrame).toBeGreaterThan(3);
    await eventually(async () => (await serverClients()) === 0, 10_000);
  }, 40_000);

  it('half-read frames from many clients at once: the stream and a steady client are unaffected', async () => {
    const { url } = await createStream(app.baseUrl, { events: EVENTS, size: SIZE, intervalMs: INTERVAL_MS });
    const steady = new RawSseClient(url);
    const victims = Array.from({ length: 20 }, (_, index) => {
      const client = new RawSseClient(url);
      client.onChunk = (c) => {
        if (c.events.length >= 1 + (index % 5) && c.inFrame) {
          c.onChunk = undefined;
          if (index % 2 === 0) c.reset();
          else c.close();
        }
      };
      return client;
    });
    await Promise.all(victims.map((client) => client.done));
    const resumed = await Promise.all(
      victims.map(async (victim, index) => {
        expectExactRun(victim.events, { label: `victim ${index}` });
        const rest = await followUntilFinal(() => url, { startAfter: victim.lastEventId });
        return [...victim.events, ...rest.events] as SseFrame[];
      }),
    );
    await steady.done;
    expectExactRun(steady.events, { final: 'done', label: 'steady' });
    for (const events of resumed) expect(fingerprint(events)).toEqual(fingerprint(steady.events));
    await eventually(async () => (await serverClients()) === 0, 10_000);
    // The process kept serving throughout and logged no failure.
    expect(app.process.exitCode).toBeNull();
    expect((await fetch(`${app.baseUrl}/health`)).status).toBe(200);
    expect(app.output()).not.toMatch(/ERROR|Unhandled|uncaught/i);
  }, 40_000);
});
