import { setTimeout as sleep } from 'node:timers/promises';
import { StreamRegistry, type ResumableStream } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { DataSource } from 'typeorm';
import { meridianStreamEntities, meridianStreamMigrations } from 'nestjs-meridian-stream/typeorm';
import { captureLogs, healthy, startFaultApp, type CapturedLogs } from '../support/fault-app.js';
import { CommitReplyLosingProxy, PrivatePostgres, privatePostgresUnavailable } from '../support/fault-postgres.js';
import { expectExactRun, RawSseClient, range, readToEnd, sequenceOf } from '../support/fault-sse.js';
import { createStream, startSampleApp, type RunningApp } from '../support/sample-app.js';
import { eventually } from '../support/eventually.js';

/*
 * Issue 7, fault "database down during persist". A private PostgreSQL (never the shared one) is
 * stopped mid-stream (immediate shutdown, as a crash) and started again on the same port. The
 * write-behind reports the failure in the log and retries; the producer never sees it (its
 * stream ends with `done`, not `error`); live clients get every event once; a client that needs
 * the store during the outage is dropped without a gap and resumes exactly afterwards; once the
 * database is back the store holds exactly the whole sequence, and clients that catch up from
 * it after a persist-and-clear get all of it.
 */

const unavailable = privatePostgresUnavailable();
if (unavailable) {
  const message = `!!! database-down fault tests SKIPPED: no private PostgreSQL (${unavailable}).`;
  if (process.env.CI === 'true') throw new Error(`${message} Under CI=true this fails the run.`);
  console.warn(message);
}
const describeIfPostgres = unavailable ? describe.skip : describe;

const EVENTS = 300;
const INTERVAL_MS = 20;

describeIfPostgres('the database goes down during write-behind (private PostgreSQL, sample app in process)', () => {
  let postgres: PrivatePostgres;
  let server: RunningApp;
  let registry: StreamRegistry;
  let logs: CapturedLogs;

  beforeAll(async () => {
    postgres = await PrivatePostgres.create();
    logs = captureLogs();
    server = await startSampleApp(
      'express',
      { logger: logs.logger, persistEveryEvents: 10, persistEveryMs: 100, heartbeatMs: 0, retentionMs: 60_000 },
      postgres.url,
    );
    registry = server.app.get(StreamRegistry);
  }, 40_000);
  afterAll(async () => {
    await server?.close();
    await postgres?.destroy();
  });

  it('loses nothing: retried, logged, never thrown at the producer; the store has it all after the restart', async () => {
    const { id, url } = await createStream(server.baseUrl, { events: EVENTS, intervalMs: INTERVAL_MS });
    const stream: ResumableStream = registry.get(id)!;
    const live = [new RawSseClient(url), new RawSseClient(url)];

    // Some events stored and cleared from memory, so that early positions live only in the database.
    await eventually(() => stream.persistedThrough >= 20, 10_000);
    const cleared = await fetch(`${url}/persist`, { method: 'POST' });
    expect(cleared.status).toBe(200);
    const clearedThrough = stream.persistedThrough;
    expect(stream.buffered.firstSequence).toBeGreaterThan(5);

    await postgres.stop('SIGQUIT');
    const downAt = stream.lastSequence;
    const errorsAtStop = logs.errors.length;

    // During the outage: the stream goes on, the failure is logged, nothing is stored.
    await eventually(() => stream.lastSequence >= downAt + 20, 10_000);
    await eventually(() => logs.errors.length > errorsAtStop, 10_000);
    expect(stream.state).toBe('running');
    const storedDuringOutage = stream.persistedThrough;
    expect(storedDuringOutage).toBeLessThanOrEqual(downAt);
    // A client that needs the store now is dropped without a gap...
    const needsStore = new RawSseClient(url, live[0].events[4].id);
    await needsStore.done;
    expect(needsStore.events.length === 0 || sequenceOf(needsStore.events[0].id) === 6).toBe(true);
    expectExactRun(needsStore.events, { after: 5, label: 'catch-up during the outage', mayBeEmpty: true });
    // ...while one that needs only memory is served.
    const fromMemory = new RawSseClient(url, live[0].lastEventId);
    await fromMemory.waitFor((client) => client.events.length >= 3, 10_000);
    await sleep(1_000);
    expect(stream.persistedThrough).toBe(storedDuringOutage);

    await postgres.start();
    await Promise.all([...live, fromMemory].map((client) => client.done));
    expect(stream.state).toBe('completed');
    await eventually(() => stream.persistedThrough === stream.lastSequence, 30_000);

    // Every live client: the whole sequence, once, in order, then `done` (the producer never saw the failure).
    for (const [index, client] of live.entries()) {
      expectExactRun(client.events, { final: 'done', label: `live ${index}` });
      expect(client.events).toHaveLength(EVENTS + 1);
    }
    expect(live[1].events).toEqual(live[0].events);
    expect(fromMemory.events[0].id).not.toBe(live[0].events[0].id);
    expect(fromMemory.events).toEqual(live[0].events.slice(sequenceOf(fromMemory.events[0].id) - 1));

    // Reported, not thrown: write failures logged with a retry, the stream itself not failed.
    const reported = logs.errors.slice(errorsAtStop);
    expect(reported.some((line) => /writing events to the store failed.*retried/s.test(line))).toBe(true);
    expect(logs.errors.some((line) => new RegExp(`Stream ${id} failed`).test(line))).toBe(false);

    // The database holds exactly the whole sequence: nothing lost, nothing twice.
    const rows = await postgres.query<{ sequence: string }>(
      'SELECT sequence FROM meridian_stream_events WHERE stream_id = $1 ORDER BY sequence',
      [id],
    );
    expect(rows.map((row) => Number(row.sequence))).toEqual(range(1, EVENTS + 1));

    // Memory emptied; clients catch up from the database: the client dropped during the outage,
    // one from the start, one from before what had been cleared.
    const { cleared: clearedNow } = (await (await fetch(`${url}/persist`, { method: 'POST' })).json()) as {
      cleared: number;
    };
    expect(clearedNow).toBe(EVENTS + 1 - clearedThrough);
    expect(stream.buffered.events).toBe(0);
    const storeHitsBefore = registry.stats().catchup.store;
    const resumed = await readToEnd(url, needsStore.lastEventId ?? live[0].events[4].id);
    const whole = await readToEnd(url);
    const fromCleared = await readToEnd(url, live[0].events[clearedThrough - 3].id);
    expectExactRun(resumed.events, {
      after: sequenceOf(needsStore.lastEventId ?? live[0].events[4].id),
      final: 'done',
    });
    expect(whole.events).toEqual(live[0].events);
    expect(fromCleared.events).toEqual(live[0].events.slice(clearedThrough - 2));
    expect(registry.stats().catchup.store - storeHitsBefore).toBe(3);

    expect(await healthy(server.baseUrl)).toBe(true);
    await eventually(() => registry.stats().clients === 0, 5_000);
  }, 60_000);

  /*
   * Found by this test (fixed): a write whose COMMIT reached the database but whose reply was lost
   * used to be retried from the same event for ever (StoreSequenceError); after a failed write
   * the stream now reads back how far the store is (loadMeta) and continues from there.
   */
  test('a COMMIT whose reply is lost: the retries must still store every event once', async () => {
    const proxy = await new CommitReplyLosingProxy(postgres.port).listen();
    const dataSource = await new DataSource({
      type: 'postgres',
      url: proxy.url,
      entities: meridianStreamEntities,
      migrations: meridianStreamMigrations,
      migrationsRun: true,
    }).initialize();
    const proxyLogs = captureLogs();
    const app = await startFaultApp({
      store: new TypeOrmEventStore(dataSource),
      persistEveryEvents: 0,
      persistEveryMs: 100,
      logger: proxyLogs.logger,
    });
    try {
      const stream = app.registry.create(async ({ send, signal }) => {
        for (let i = 0; i < 60 && !signal.aborted; i++) {
          send({ type: 'tick', data: { i } });
          if (i === 20) proxy.arm();
          await sleep(10);
        }
      });
      const client = await readToEnd(app.url(stream.id));
      expectExactRun(client.events, { final: 'done' });
      expect(proxy.cuts).toBe(1);
      // The lost reply's write did commit (read past the proxy).
      const committed = await postgres.query<{ sequence: string }>(
        'SELECT sequence FROM meridian_stream_events WHERE stream_id = $1 ORDER BY sequence',
        [stream.id],
      );
      expect(committed.length).toBeGreaterThan(0);
      // Expected: the write-behind recovers and stores everything exactly once.
      const recovered = await eventually(() => stream.persistedThrough === stream.lastSequence, 8_000).then(
        () => true,
        () => false,
      );
      const lastError = proxyLogs.errors.at(-1)?.split('\n')[0];
      expect({ persistedThrough: stream.persistedThrough, lastError: recovered ? undefined : lastError }).toEqual({
        persistedThrough: stream.lastSequence,
        lastError: undefined,
      });
      const rows = await postgres.query<{ sequence: string }>(
        'SELECT sequence FROM meridian_stream_events WHERE stream_id = $1 ORDER BY sequence',
        [stream.id],
      );
      expect(rows.map((row) => Number(row.sequence))).toEqual(range(1, stream.lastSequence));
    } finally {
      await app.close();
      await dataSource.destroy();
      await proxy.close();
    }
  }, 40_000);
});
