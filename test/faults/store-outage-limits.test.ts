import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import type { ProducerContext, ResumableStream } from 'nestjs-meridian-stream';
import { meridianStreamEntities, meridianStreamMigrations, TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { captureLogs, healthy, startFaultApp, type CapturedLogs, type FaultApp } from '../support/fault-app.js';
import { PrivatePostgres, privatePostgresUnavailable } from '../support/fault-postgres.js';
import { expectExactRun, RawSseClient, range, sequenceOf } from '../support/fault-sse.js';
import { eventually } from '../support/eventually.js';

/*
 * The store stays down longer than the unstored limits allow while producers keep sending. A
 * private PostgreSQL (never the shared one) is stopped (immediate shutdown, as a crash) and only
 * started again once the streams have failed. Memory stays under the documented bound the whole
 * time (the registry's unstored bytes, and the heap as a sanity bound); the producers are held
 * back, then their streams fail with the store-unavailable `error` event; once the database is
 * back, every event a real client received over its socket is in the store, and so is the rest.
 */

const unavailable = privatePostgresUnavailable();
if (unavailable) {
  const message = `!!! store outage limit tests SKIPPED: no private PostgreSQL (${unavailable}).`;
  if (process.env.CI === 'true') throw new Error(`${message} Under CI=true this fails the run.`);
  console.warn(message);
}
const describeIfPostgres = unavailable ? describe.skip : describe;

const KIB = 1024;
const EVENT = 'x'.repeat(KIB);
const MAX_UNSTORED = 64 * KIB;
const MAX_UNSTORED_TOTAL = 128 * KIB;
/** What docs/durability.md promises for producers that wait: the total, plus one event and the final event per stream. */
const STREAMS = 3;
const FINAL_EVENT_BYTES = 512;
const BOUND = MAX_UNSTORED_TOTAL + STREAMS * (KIB + FINAL_EVENT_BYTES);

describeIfPostgres('the store stays down past the unstored limits (private PostgreSQL, real sockets)', () => {
  let postgres: PrivatePostgres;
  let dataSource: DataSource;
  let app: FaultApp;
  let logs: CapturedLogs;

  beforeAll(async () => {
    postgres = await PrivatePostgres.create();
    dataSource = await new DataSource({
      type: 'postgres',
      url: postgres.url,
      entities: meridianStreamEntities,
      migrations: meridianStreamMigrations,
      migrationsRun: true,
      connectTimeoutMS: 2_000,
    }).initialize();
    logs = captureLogs();
    app = await startFaultApp({
      store: new TypeOrmEventStore(dataSource),
      logger: logs.logger,
      persistEveryEvents: 20,
      persistEveryMs: 50,
      maxUnstoredBytes: MAX_UNSTORED,
      maxUnstoredBytesTotal: MAX_UNSTORED_TOTAL,
      unstoredFailAfterMs: 3_000,
      retentionMs: 120_000,
    });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy().catch(() => undefined);
    await postgres?.destroy();
  });

  it('bounds memory, holds the producers back, fails the streams with the store error, and stores every event a client saw', async () => {
    const waiting = new Map<string, boolean>();
    const work = async ({ streamId, send, writable, signal }: ProducerContext) => {
      while (!signal.aborted) {
        send({ data: EVENT });
        waiting.set(streamId, true);
        await writable();
        waiting.set(streamId, false);
        await sleep(2);
      }
    };
    async function* iterable() {
      for (;;) {
        yield EVENT;
        await sleep(2);
      }
    }
    const streams: ResumableStream[] = [
      app.registry.create(work),
      app.registry.create(iterable()),
      app.registry.create(work, { durability: 'commit' }),
    ];
    const commitStream = streams[2];
    const clients = streams.map((stream) => new RawSseClient(app.url(stream.id)));
    await eventually(() => streams.every((stream) => stream.persistedThrough >= 50), 20_000);
    const heapBefore = process.memoryUsage().heapUsed;

    // The sampler reads what the registry reports all through the outage.
    let peakUnstored = 0;
    let peakHeap = 0;
    const sampler = setInterval(() => {
      peakUnstored = Math.max(peakUnstored, app.registry.stats().unstoredBytes);
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 10);
    try {
      await postgres.stop('SIGQUIT');
      const errorsAtStop = logs.errors.length;
      const storedAtStop = streams.map((stream) => stream.persistedThrough);

      // Held back: the work functions wait in writable(), nothing more is taken in while writes keep failing.
      await eventually(() => app.registry.stats().unstoredBytes > MAX_UNSTORED_TOTAL, 10_000);
      await eventually(() => waiting.get(streams[0].id) === true && waiting.get(commitStream.id) === true, 5_000);
      // An item the iterable was already producing still comes in; then nothing more.
      await eventually(() => logs.errors.length >= errorsAtStop + 3, 10_000);
      const heldAt = streams.map((stream) => stream.lastSequence);
      const errorsHeld = logs.errors.length;
      await eventually(() => logs.errors.length >= errorsHeld + 6, 10_000);
      expect(streams.map((stream) => stream.state)).toEqual(['running', 'running', 'running']);
      expect(streams.map((stream) => stream.lastSequence)).toEqual(heldAt);
      // Write-behind clients meanwhile have what is in memory; the commit client only what is stored.
      await clients[0].waitFor((client) => sequenceOf(client.lastEventId) === heldAt[0]);
      expect(sequenceOf(clients[2].lastEventId)).toBeLessThanOrEqual(storedAtStop[2]);

      // Over the limit for unstoredFailAfterMs: every stream fails with the store error.
      expect(await Promise.all(streams.map((stream) => stream.whenEnded()))).toEqual(['failed', 'failed', 'failed']);
      for (const client of clients.slice(0, 2)) {
        await client.done;
        expect(client.finalEvent?.event).toBe('error');
        expect(JSON.parse(client.finalEvent!.data)).toMatchObject({
          status: 'failed',
          message: expect.stringMatching(/^The event store is unavailable \(over maxUnstoredBytesTotal for 3000 ms\)/),
        });
      }
      expect(sequenceOf(clients[2].lastEventId)).toBeLessThanOrEqual(storedAtStop[2]);
      expect(clients[2].ended).toBe(false);
    } finally {
      clearInterval(sampler);
    }
    expect(peakUnstored).toBeGreaterThan(MAX_UNSTORED_TOTAL);
    expect(peakUnstored).toBeLessThanOrEqual(BOUND);
    // A sanity bound: the heap did not grow by more than a few times what the limits allow.
    expect(peakHeap - heapBefore).toBeLessThan(64 * 1024 * KIB);

    await postgres.start();
    // The retries write what memory held: the store has every event, and the commit client gets the rest.
    await eventually(() => streams.every((stream) => stream.persistedThrough === stream.lastSequence), 40_000);
    await clients[2].done;
    expect(app.registry.stats().unstoredBytes).toBe(0);
    for (const [index, stream] of streams.entries()) {
      const rows = await postgres.query<{ sequence: string }>(
        'SELECT sequence FROM meridian_stream_events WHERE stream_id = $1 ORDER BY sequence',
        [stream.id],
      );
      const stored = rows.map((row) => Number(row.sequence));
      expect(stored).toEqual(range(1, stream.lastSequence));
      const received = clients[index].events.map((frame) => sequenceOf(frame.id));
      expect(received.filter((sequence) => !stored.includes(sequence))).toEqual([]);
      expectExactRun(clients[index].events, { final: 'error', label: `client ${index}` });
    }
    expect(await healthy(app.baseUrl)).toBe(true);
  }, 120_000);
});
