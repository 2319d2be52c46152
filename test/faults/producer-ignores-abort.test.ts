import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamProducer } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { captureLogs, healthy, startFaultApp, type CapturedLogs, type FaultApp } from '../support/fault-app.js';
import { expectExactRun, RawSseClient, readToEnd } from '../support/fault-sse.js';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';

/*
 * Issue 7, fault "producer ignores its abort signal". After a cancel (explicit or by timeoutMs)
 * the producer goes on calling send(): every such send is refused (returns undefined, never
 * throws), nothing is appended after the final event (not in memory, not on the wire, not in
 * the store), the producer's own end (return or throw) adds no second final event, and the
 * stream is removed after its retention although the producer is still running: no leak.
 */

const RETENTION_MS = 800;
const SEND_EVERY_MS = 5;
/** Long enough that the producer outlives the stream's retention. */
const PRODUCER_RUNS_MS = 2_500;

interface SendRecord {
  readonly at: number;
  readonly afterAbort: boolean;
  readonly sequence: number | undefined;
  readonly threw: unknown;
}

/** A producer that never looks at its signal; it records what each send returned. */
function deafProducer(
  records: SendRecord[],
  ending: 'returns' | 'throws',
  state: { running: boolean },
): StreamProducer {
  return async ({ send, signal }) => {
    state.running = true;
    const until = Date.now() + PRODUCER_RUNS_MS;
    for (let i = 0; Date.now() < until; i++) {
      const afterAbort = signal.aborted;
      let sequence: number | undefined;
      let threw: unknown;
      try {
        sequence = send({ type: 'tick', data: { i } })?.sequence;
      } catch (error) {
        threw = error;
      }
      records.push({ at: Date.now(), afterAbort, sequence, threw });
      await sleep(SEND_EVERY_MS);
    }
    state.running = false;
    if (ending === 'throws') throw new Error('deaf producer gave up');
  };
}

describe('a producer that ignores its abort signal (real sockets, Nest app)', () => {
  let server: FaultApp;
  let logs: CapturedLogs;
  let db: TestDatabase;
  let store: TypeOrmEventStore;
  beforeAll(async () => {
    logs = captureLogs();
    db = await openTestDatabase('sqlite');
    store = new TypeOrmEventStore(db.dataSource);
    server = await startFaultApp({
      retentionMs: RETENTION_MS,
      logger: logs.logger,
      store,
      persistEveryEvents: 10,
      persistEveryMs: 50,
    });
  });
  afterAll(async () => {
    await server.close();
    await db.close();
  });

  const cases: ['cancel()' | 'timeoutMs', 'returns' | 'throws'][] = [
    ['cancel()', 'returns'],
    ['cancel()', 'throws'],
    ['timeoutMs', 'returns'],
    ['timeoutMs', 'throws'],
  ];

  it.each(cases)(
    'ended by %s, the producer then %s: sends refused, nothing after the final event, no leak',
    async (how, ending) => {
      const records: SendRecord[] = [];
      const state = { running: false };
      const debugBefore = logs.debug.length;
      const errorsBefore = logs.errors.length;
      const stream = server.registry.create(deafProducer(records, ending, state), {
        timeoutMs: how === 'timeoutMs' ? 400 : 0,
      });
      const url = server.url(stream.id);
      const live = [new RawSseClient(url), new RawSseClient(url)];
      if (how === 'cancel()') {
        await live[0].waitFor((client) => client.events.length >= 20);
        await expect(server.registry.cancel(stream.id, 'user aborted')).resolves.toBe('cancelled');
      }
      await Promise.all(live.map((client) => client.done));
      const finalSequence = stream.lastSequence;
      const reason = how === 'cancel()' ? 'user aborted' : 'timeout';
      for (const [index, client] of live.entries()) {
        expectExactRun(client.events, { final: 'cancelled', label: `live ${index}` });
        expect(JSON.parse(client.events.at(-1)!.data)).toEqual({ status: 'cancelled', reason });
        expect(client.events.at(-1)!.id).toBe(stream.lastEventId);
      }
      const eventsTotal = server.registry.stats().eventsTotal;

      // The producer is still sending into the finished stream...
      expect(state.running).toBe(true);
      await eventually(() => records.filter((record) => record.afterAbort).length >= 20, 5_000);
      // ...and the stream is removed after its retention, while the producer still runs.
      await eventually(() => !server.registry.has(stream.id), RETENTION_MS + 5_000);
      expect(state.running).toBe(true);
      expect(server.registry.stats()).toMatchObject({ streams: 0, clients: 0, bufferedEvents: 0 });
      await eventually(() => !state.running, PRODUCER_RUNS_MS + 5_000);
      await sleep(50);

      const late = records.filter((record) => record.afterAbort);
      expect(late.length).toBeGreaterThan(20);
      // Every send after the abort was refused: no sequence, no exception.
      expect(late.filter((record) => record.sequence !== undefined || record.threw !== undefined)).toEqual([]);
      // Every send before it was accepted, in order, right before the final event.
      const accepted = records.filter((record) => !record.afterAbort).map((record) => record.sequence);
      expect(accepted).toEqual(Array.from({ length: finalSequence - 1 }, (_, i) => i + 1));
      expect(stream.lastSequence).toBe(finalSequence);
      expect(stream.state).toBe('cancelled');
      // Refused sends are not counted as events.
      expect(server.registry.stats().eventsTotal).toBe(eventsTotal);
      // The producer's own end after the cancel is no second final event; a throw is only a debug line.
      if (ending === 'throws') {
        await eventually(
          () => logs.debug.slice(debugBefore).some((line) => /after the stream finished/.test(line)),
          2_000,
        );
      }
      expect(logs.errors.slice(errorsBefore)).toEqual([]);

      // The store has exactly the sequence, ending with the final event, and nothing after it.
      const stored = await store.readAfter(stream.id, 0, 10_000);
      expect(stored.map((event) => event.sequence)).toEqual(Array.from({ length: finalSequence }, (_, i) => i + 1));
      expect(stored.at(-1)!.type).toBe('cancelled');
      expect((await store.loadMeta(stream.id))?.status).toBe('cancelled');

      // Served again, brought back from the store alone: the same events, the same final event.
      const replay = await readToEnd(url);
      expect(replay.status).toBe(200);
      expect(replay.events).toEqual(live[0].events);
    },
    20_000,
  );

  it('keeps serving afterwards', async () => {
    expect(await healthy(server.baseUrl)).toBe(true);
    const fine = server.registry.create(async ({ send }) => {
      send({ data: 'ok' });
    });
    expectExactRun((await readToEnd(server.url(fine.id))).events, { final: 'done' });
    // The streams brought back from the store expire too.
    await eventually(() => server.registry.stats().streams === 0, RETENTION_MS + 5_000);
    expect(server.registry.stats().clients).toBe(0);
  });
});
