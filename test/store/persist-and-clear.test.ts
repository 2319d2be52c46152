import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  isStreamEvent,
  StreamRegistry,
  type EventStore,
  type ResumableStream,
  type SseMessage,
} from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { databaseKinds, openTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';

/** Subscribes and records every event's sequence until completion. */
function collect(stream: ResumableStream, lastEventId?: string) {
  const seen: SseMessage[] = [];
  const done = new Promise<void>((resolve) =>
    stream.observe(lastEventId, { heartbeat: false }).subscribe({ next: (m) => seen.push(m), complete: resolve }),
  );
  return { seen, done, sequences: () => seen.filter(isStreamEvent).map((event) => event.sequence) };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(databaseKinds())('persistAndClear on %s', (kind) => {
  let db: TestDatabase;
  let store: TypeOrmEventStore;
  /**
   * The same store, taking a turn of the event loop before and after each write, as a database
   * across a network does (better-sqlite3 writes synchronously, so no event could be sent
   * during a write and the lost-events bug could not show on SQLite).
   */
  let slowStore: EventStore;
  beforeAll(async () => {
    db = await openTestDatabase(kind);
    store = new TypeOrmEventStore(db.dataSource);
    slowStore = {
      append: async (meta, events) => {
        await nextTurn();
        await store.append(meta, events);
        await nextTurn();
      },
      readAfter: (id, after, limit) => store.readAfter(id, after, limit),
      loadMeta: (id) => store.loadMeta(id),
    };
  });
  afterAll(() => db.close());
  const manual = () =>
    new StreamRegistry({ store, heartbeatMs: 0, persistEveryEvents: 0, persistEveryMs: 0, persistOnFinish: false });

  it('loses nothing and writes nothing twice while events keep coming (the Go library lost 72 of 200)', async () => {
    const registry = new StreamRegistry({
      store: slowStore,
      heartbeatMs: 0,
      persistEveryEvents: 0,
      persistEveryMs: 0,
      persistOnFinish: false,
    });
    const total = 2_000;
    const stream = registry.create(async ({ send, signal }) => {
      for (let i = 0; i < total && !signal.aborted; i++) {
        send({ data: { i } });
        if (i % 4 === 0) await nextTurn();
      }
    });
    const client = collect(stream);
    const calls: Promise<{ persisted: number; cleared: number }>[] = [];
    while (!stream.isFinished) {
      // Several at once, as concurrent requests would: they queue, none writes an event twice.
      calls.push(stream.persistAndClear(), stream.persistAndClear(), stream.persist());
      await nextTurn();
    }
    calls.push(stream.persistAndClear());
    const results = await Promise.all(calls);
    expect(calls.length).toBeGreaterThan(300);
    expect(results.reduce((sum, result) => sum + result.persisted, 0)).toBe(total + 1);
    const stored = await store.readAfter(stream.id, 0, 10_000);
    expect(stored.map((event) => event.sequence)).toEqual(range(1, total + 1));
    expect(stored.slice(0, total).map((event) => JSON.parse(event.data).i)).toEqual(range(0, total - 1));
    expect(stream.buffered.events).toBe(0);
    await client.done;
    expect(client.sequences()).toEqual(range(1, total + 1));
    // A late joiner gets the whole stream, from the store alone.
    const late = collect(stream);
    await late.done;
    expect(late.sequences()).toEqual(range(1, total + 1));
    await registry.shutdown({ graceMs: 0 });
  });

  it('keeps everything in memory when the write fails, and writes it once the database is back', async () => {
    const registry = manual();
    const stream = registry.create(undefined, { id: `db-down-${kind}` });
    for (let i = 0; i < 50; i++) stream.send({ data: i });
    await stream.persistAndClear();
    for (let i = 50; i < 80; i++) stream.send({ data: i });
    const events = db.table('meridian_stream_events');
    await db.dataSource.query(`ALTER TABLE ${events} RENAME TO meridian_stream_events_away`);
    try {
      await expect(stream.persistAndClear()).rejects.toThrow();
      expect(stream.buffered.events).toBe(30);
      expect(stream.persistedThrough).toBe(50);
      stream.send({ data: 80 });
    } finally {
      await db.dataSource.query(
        `ALTER TABLE ${db.table('meridian_stream_events_away')} RENAME TO meridian_stream_events`,
      );
    }
    expect(await stream.persistAndClear()).toEqual({ persisted: 31, cleared: 31, persistedThrough: 81 });
    expect((await store.readAfter(stream.id, 0, 1000)).map((event) => JSON.parse(event.data))).toEqual(range(0, 80));
    await registry.shutdown({ graceMs: 0 });
  });

  it('never evicts an event that is not stored yet, whatever the buffer limits', async () => {
    const registry = new StreamRegistry({
      store,
      heartbeatMs: 0,
      bufferMaxEvents: 10,
      persistEveryEvents: 0,
      persistEveryMs: 0,
    });
    const stream = registry.create();
    for (let i = 0; i < 100; i++) stream.send({ data: i });
    // Over its limits, the buffer asked for a write instead of dropping events.
    await stream.persist();
    stream.send({ data: 'next' });
    expect(stream.buffered.events).toBeLessThanOrEqual(10);
    const client = collect(stream);
    stream.complete();
    await client.done;
    expect(client.sequences()).toEqual(range(1, 102));
    await registry.shutdown({ graceMs: 0 });
  });

  it('writes behind on its own (every N events, and on finish) without clearing memory', async () => {
    const registry = new StreamRegistry({ store, heartbeatMs: 0, persistEveryEvents: 10, persistEveryMs: 0 });
    const stream = registry.create();
    for (let i = 0; i < 25; i++) stream.send({ data: i });
    // Triggered at 10 unwritten events; the write starts after these synchronous sends, so its
    // watermark (fixed when a write starts) covers all 25.
    await eventually(() => stream.persistedThrough === 25);
    expect(stream.buffered.events).toBe(25);
    stream.complete();
    await eventually(() => stream.persistedThrough === 26);
    expect((await store.loadMeta(stream.id))?.status).toBe('completed');
    expect(stream.buffered.events).toBe(26);
    await registry.shutdown({ graceMs: 0 });
  });

  it('answers catch-up with custom aggregated events that carry the id of the last event they cover', async () => {
    const registry = new StreamRegistry({
      store,
      heartbeatMs: 0,
      persistEveryEvents: 0,
      persistEveryMs: 0,
      catchup: async ({ streamId, afterSequence, throughSequence }) => {
        const stored = await store.readAfter(streamId, afterSequence, throughSequence - afterSequence);
        const text = stored.map((event) => JSON.parse(event.data).t).join('');
        return [{ type: 'block', data: { text }, sequence: stored.at(-1)!.sequence }];
      },
    });
    const stream = registry.create();
    for (const t of ['Hel', 'lo ', 'wor', 'ld']) stream.send({ type: 'delta', data: { t } });
    await stream.persistAndClear();
    stream.send({ type: 'delta', data: { t: '!' } });
    stream.complete();
    const client = collect(stream, `${stream.epoch}-1`);
    await client.done;
    const events = client.seen.filter(isStreamEvent);
    expect(events.map((event) => [event.id, event.type, event.data])).toEqual([
      [`${stream.epoch}-4`, 'block', '{"text":"lo world"}'],
      [`${stream.epoch}-5`, 'delta', '{"t":"!"}'],
      [`${stream.epoch}-6`, 'done', '{"status":"completed"}'],
    ]);
    // Resuming from the aggregated event's id continues right after what it covered.
    const resumed = collect(stream, `${stream.epoch}-4`);
    await resumed.done;
    expect(resumed.sequences()).toEqual([5, 6]);
    await registry.shutdown({ graceMs: 0 });
  });
});
