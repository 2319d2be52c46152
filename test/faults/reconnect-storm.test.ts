import { createStream, getStats, temporarySqliteUrl } from '../support/sample-app.js';
import { spawnSampleApp, type SpawnedApp } from '../support/spawned-app.js';
import { databaseKinds } from '../support/databases.js';
import { expectExactRun, followUntilFinal, RawSseClient, sequenceOf, type SseFrame } from '../support/fault-sse.js';
import { eventually } from '../support/eventually.js';

/*
 * Issue 7, fault "1,000 clients reconnecting at the same moment with the same last id". Against
 * the built sample app as its own process: 1,000 connections opened in one synchronous burst,
 * all with the same Last-Event-ID, resumed from the replay buffer, and (after persist-and-clear)
 * from the database, while the stream is still live. Every client gets exactly the continuation
 * (the same events as a reference reader, once, in order, then `done`), the server keeps
 * answering /health during the storm, and the registry is back to zero clients afterwards.
 */

const CLIENTS = 1_000;
const EVENTS = 300;
const INTERVAL_MS = 10;

/** The events of a reader as one string, to compare 1,000 readers cheaply. */
const wire = (events: readonly SseFrame[]) =>
  events.map((event) => `${event.id}|${event.event}|${event.data}`).join('\n');

interface Stats {
  clients: number;
  catchup: { live: number; buffer: number; store: number; reset: number };
}

describe.each(databaseKinds())('1,000 clients reconnect at once with the same id (built sample app, %s)', (kind) => {
  let app: SpawnedApp;
  let sqlite: { url: string; remove: () => void } | undefined;
  beforeAll(async () => {
    sqlite = kind === 'sqlite' ? temporarySqliteUrl() : undefined;
    app = await spawnSampleApp({
      DATABASE_URL: sqlite?.url ?? process.env.DATABASE_URL!,
      HEARTBEAT_MS: '0',
      RETENTION_MS: '60000',
    });
  });
  afterAll(async () => {
    await app?.stop();
    sqlite?.remove();
  });

  const stats = async () => (await getStats(app.baseUrl)) as unknown as Stats;

  /** Opens CLIENTS connections in one synchronous burst; polls /health until they are all done. */
  async function storm(url: string, lastEventId: string) {
    const health: number[] = [];
    let storming = true;
    const poller = (async () => {
      while (storming) {
        const response = await fetch(`${app.baseUrl}/health`).catch(() => undefined);
        health.push(response?.status ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const firstConnections = Array.from({ length: CLIENTS }, () => new RawSseClient(url, lastEventId));
    // A client the server cut (too slow while 1,000 are served at once) reconnects with its own last id.
    const results = await Promise.all(
      firstConnections.map(async (first) => {
        await first.done;
        if (first.finalEvent) return { events: first.events, reconnects: 0, status: first.status };
        const rest = await followUntilFinal(() => url, { startAfter: first.lastEventId ?? lastEventId });
        return { events: [...first.events, ...rest.events], reconnects: rest.connections, status: first.status };
      }),
    );
    storming = false;
    await poller;
    return { results, health };
  }

  // The buffer tier does not depend on the database: once, on SQLite.
  const onceOnSqlite = kind === 'sqlite' ? it : it.skip;
  onceOnSqlite(
    'from the replay buffer, while the stream is live: every client gets exactly the continuation',
    async () => {
      const { url } = await createStream(app.baseUrl, { events: EVENTS, intervalMs: INTERVAL_MS });
      const reference = new RawSseClient(url);
      await reference.waitFor((client) => client.events.length >= 120, 20_000);
      const lastEventId = reference.events[99].id!;
      const before = await stats();

      const { results, health } = await storm(url, lastEventId);
      await reference.done;
      expectExactRun(reference.events, { final: 'done', label: 'reference' });
      const expected = wire(reference.events.slice(100));
      const wrong = results.filter((result) => wire(result.events) !== expected);
      if (wrong.length > 0) expectExactRun(wrong[0].events, { after: 100, final: 'done', label: 'first wrong client' });
      expect(wrong).toHaveLength(0);
      expect(results.every((result) => result.status === 200)).toBe(true);

      // The server answered /health throughout; its clients are all gone; the resumes came from the buffer.
      expect(health.length).toBeGreaterThan(0);
      expect(health.filter((status) => status !== 200)).toEqual([]);
      await eventually(async () => (await stats()).clients === 0, 10_000);
      const after = await stats();
      const reconnects = results.reduce((sum, result) => sum + result.reconnects, 0);
      expect(after.catchup.buffer - before.catchup.buffer).toBeGreaterThanOrEqual(CLIENTS);
      expect(after.catchup.reset - before.catchup.reset).toBe(0);
      expect(after.catchup.store - before.catchup.store).toBeLessThanOrEqual(reconnects);
    },
    60_000,
  );

  it('from the database after persist-and-clear, while the stream is live: exactly the continuation', async () => {
    const { url } = await createStream(app.baseUrl, { events: EVENTS, intervalMs: INTERVAL_MS });
    const reference = new RawSseClient(url);
    await reference.waitFor((client) => client.events.length >= 150, 20_000);
    const persisted = await fetch(`${url}/persist`, { method: 'POST' });
    expect(persisted.status).toBe(200);
    const { cleared } = (await persisted.json()) as { cleared: number };
    expect(cleared).toBeGreaterThanOrEqual(150);
    const lastEventId = reference.events[49].id!;
    expect(sequenceOf(lastEventId)).toBe(50);
    const before = await stats();

    const { results, health } = await storm(url, lastEventId);
    await reference.done;
    expectExactRun(reference.events, { final: 'done', label: 'reference' });
    const expected = wire(reference.events.slice(50));
    const wrong = results.filter((result) => wire(result.events) !== expected);
    if (wrong.length > 0) expectExactRun(wrong[0].events, { after: 50, final: 'done', label: 'first wrong client' });
    expect(wrong).toHaveLength(0);

    expect(health.filter((status) => status !== 200)).toEqual([]);
    await eventually(async () => (await stats()).clients === 0, 10_000);
    const after = await stats();
    expect(after.catchup.store - before.catchup.store).toBeGreaterThanOrEqual(CLIENTS);
    expect(after.catchup.reset - before.catchup.reset).toBe(0);
    expect(app.process.exitCode).toBeNull();
  }, 60_000);
});
