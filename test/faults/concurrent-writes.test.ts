import { setTimeout as sleep } from 'node:timers/promises';
import { StreamRegistry } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { captureLogs, startFaultApp } from '../support/fault-app.js';
import { databaseKinds, openTestDatabase, type TestDatabase } from '../support/databases.js';
import { expectExactRun, fingerprint, RawSseClient, range, readToEnd } from '../support/fault-sse.js';

/*
 * Found by the soak's investigation (issue 7, "database during persist"): several streams
 * writing to one store at the same moment. On PostgreSQL every write gets a pooled connection
 * of its own; on SQLite (better-sqlite3, one connection, the sample app's default store) the
 * transactions of different streams interleave on that one connection.
 *
 * Found by this test (fixed): on SQLite the transactions of two streams used to interleave on the
 * one connection (a write committed while its caller saw it fail, and app.close() lost streams);
 * TypeOrmEventStore now runs them one after the other on single-connection drivers.
 */

const STREAMS = 5;

describe.each(databaseKinds())('several streams writing to one %s store at once', (kind) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase(kind);
  });
  afterAll(() => db.close());

  test('concurrent write-behind: every write succeeds, each stream is stored exactly once', async () => {
    const store = new TypeOrmEventStore(db.dataSource);
    const registry = new StreamRegistry({
      store,
      heartbeatMs: 0,
      persistEveryEvents: 0,
      persistEveryMs: 0,
      persistOnFinish: false,
    });
    try {
      const streams = Array.from({ length: STREAMS }, () => registry.create());
      for (const stream of streams) for (let i = 0; i < 10; i++) stream.send({ data: i });
      const first = await Promise.allSettled(streams.map((stream) => stream.persist()));
      for (const stream of streams) stream.send({ data: 'more' });
      const second = await Promise.allSettled(streams.map((stream) => stream.persist()));
      const failures = [...first, ...second]
        .filter((result): result is PromiseRejectedResult => result.status === 'rejected')
        .map((result) => String(result.reason).split('\n')[0]);
      expect(failures).toEqual([]);
      for (const stream of streams) {
        expect(stream.persistedThrough).toBe(11);
        expect((await store.readAfter(stream.id, 0, 100)).map((event) => event.sequence)).toEqual(range(1, 11));
      }
    } finally {
      await registry.shutdown({ graceMs: 0 });
    }
  });

  test(`app.close() with ${STREAMS} running streams: clients get \`cancelled\`, the store holds every stream whole, a restart serves it`, async () => {
    const store = new TypeOrmEventStore(db.dataSource);
    const logs = captureLogs();
    // Nothing written behind while running: everything is written at shutdown.
    const options = { store, persistEveryEvents: 0, persistEveryMs: 0, logger: logs.logger };
    const app = await startFaultApp(options);
    const streams = Array.from({ length: STREAMS }, () =>
      app.registry.create(async ({ send, signal }) => {
        for (let i = 0; !signal.aborted; i++) {
          send({ type: 'tick', data: { i } });
          await sleep(10);
        }
      }),
    );
    const clients = streams.map((stream) => new RawSseClient(app.url(stream.id)));
    await Promise.all(clients.map((client) => client.waitFor((c) => c.events.length >= 20)));
    await app.close();
    await Promise.all(clients.map((client) => client.done));
    for (const [index, client] of clients.entries()) {
      expectExactRun(client.events, { final: 'cancelled', label: `client ${index}` });
    }
    const writeErrors = logs.errors.map((line) => line.split('\n')[0]);
    const stored = await Promise.all(
      streams.map(async (stream) => ({
        lastSequence: stream.lastSequence,
        stored: (await store.readAfter(stream.id, 0, 10_000)).length,
        meta: (await store.loadMeta(stream.id))?.status,
      })),
    );
    expect({ stored, writeErrors }).toEqual({
      stored: streams.map((stream) => ({
        lastSequence: stream.lastSequence,
        stored: stream.lastSequence,
        meta: 'cancelled',
      })),
      writeErrors: [],
    });

    // The next process serves each stream whole from the store.
    const restarted = await startFaultApp({ store, logger: false });
    try {
      for (const [index, stream] of streams.entries()) {
        const replay = await readToEnd(restarted.url(stream.id));
        expect(fingerprint(replay.events)).toEqual(fingerprint(clients[index].events));
      }
    } finally {
      await restarted.close();
    }
  }, 30_000);
});
