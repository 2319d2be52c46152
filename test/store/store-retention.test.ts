import { InProcessStreamBus, StreamRegistry, type ResumableStream, type StreamEvent } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { databaseKinds, openTestDatabase, type TestDatabase } from '../support/databases.js';
import { countRows, insertStreams } from '../support/bulk-streams.js';
import { within } from '../support/eventually.js';

const HOUR = 3_600_000;
const EVENTS = 'meridian_stream_events';
const STREAMS = 'meridian_streams';

/** A client attached through `attach()` that stops reading after `pauseAfter` events until resumed. */
function reader(stream: ResumableStream, pauseAfter = Infinity) {
  let paused: () => void = () => undefined;
  let ended: () => void = () => undefined;
  const state = {
    sequences: [] as number[],
    ends: [] as string[],
    paused: new Promise<void>((resolve) => (paused = resolve)),
    ended: new Promise<void>((resolve) => (ended = resolve)),
  };
  const client = stream.attach({
    write(event: StreamEvent) {
      state.sequences.push(event.sequence);
      if (state.sequences.length !== pauseAfter) return true;
      paused();
      return false;
    },
    end(reason) {
      state.ends.push(reason);
      ended();
    },
  });
  return Object.assign(state, { client });
}

/** Every event from 1 with no hole, and either all of them (finished) or cut with the stream gone. */
async function assertAllOrGone(registry: StreamRegistry, id: string, got: ReturnType<typeof reader>, total: number) {
  expect(got.sequences).toEqual(Array.from({ length: got.sequences.length }, (_, i) => i + 1));
  if (got.ends[0] === 'finished') expect(got.sequences.length).toBe(total);
  else expect(await registry.locate(id)).toBeUndefined();
}

describe.each(databaseKinds())('store retention on %s, 1,000,000 events in 10,000 streams', (kind) => {
  let db: TestDatabase;
  let store: TypeOrmEventStore;
  const now = Date.now();
  const old = now - 2 * HOUR;
  const recent = now - 60_000;
  const registries: StreamRegistry[] = [];
  const registry = (options: ConstructorParameters<typeof StreamRegistry>[0] = {}) => {
    const made = new StreamRegistry({ store, storeRetentionMs: HOUR, storePurgeEveryMs: HOUR, ...options });
    registries.push(made);
    return made;
  };

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    store = new TypeOrmEventStore(db.dataSource);
    const common = { events: 100 };
    await insertStreams(db, {
      ...common,
      prefix: 'due-c',
      count: 4000,
      status: 'completed',
      updatedAt: old,
      finishedAt: old,
    });
    await insertStreams(db, {
      ...common,
      prefix: 'due-x',
      count: 2000,
      status: 'cancelled',
      updatedAt: old,
      finishedAt: old,
    });
    await insertStreams(db, {
      ...common,
      prefix: 'fresh',
      count: 1000,
      status: 'completed',
      updatedAt: recent,
      finishedAt: recent,
    });
    await insertStreams(db, {
      ...common,
      prefix: 'stale',
      count: 1000,
      status: 'running',
      updatedAt: old,
      finishedAt: null,
    });
    await insertStreams(db, {
      ...common,
      prefix: 'live',
      count: 1000,
      status: 'running',
      updatedAt: recent,
      finishedAt: null,
    });
    await insertStreams(db, {
      ...common,
      prefix: 'onbus',
      count: 1000,
      status: 'running',
      updatedAt: old,
      finishedAt: null,
    });
    expect(await countRows(db, EVENTS)).toBe(1_000_000);
  }, 120_000);

  afterAll(async () => {
    for (const made of registries) await made.shutdown({ graceMs: 0 });
    await db?.close();
  });

  it('the retention indexes migration made both indexes, and undoing it drops them', async () => {
    const indexes = async () => {
      const runner = db.dataSource.createQueryRunner();
      try {
        return (await runner.getTable(STREAMS))!.indices.map((index) => [index.name, index.columnNames]);
      } finally {
        await runner.release();
      }
    };
    const made = [
      ['IDX_meridian_streams_finished_at', ['finished_at']],
      ['IDX_meridian_streams_status_updated_at', ['status', 'updated_at']],
    ];
    expect(await indexes()).toEqual(expect.arrayContaining(made));
    await db.dataSource.undoLastMigration();
    expect(await indexes()).toEqual([]);
    await db.dataSource.runMigrations();
    expect(await indexes()).toEqual(expect.arrayContaining(made));
  });

  it('deletes exactly what is due: finished before the cutoff, and interrupted streams past it', async () => {
    const bus = new InProcessStreamBus();
    const lostEvent = { type: 'error', data: '{}' };
    // Stored as running and not written for two hours, but their producers still hold them on the bus.
    for (let n = 1; n <= 1000; n++) await bus.open(`onbus${n}`, 'e1', { stored: true, lostEvent, retentionMs: HOUR });
    const purging = registry({ bus });
    // Running here, its last write two hours old: kept.
    const here = purging.create(undefined, { id: 'here' });
    await here.whenShared();
    here.send({ data: 'x' });
    // With a bus, the event is the stream's once the bus took it.
    await here.whenIssued(1, 5_000);
    await here.persist();
    await db.dataSource.query(`UPDATE ${db.table(STREAMS)} SET updated_at = ${old} WHERE stream_id = 'here'`);
    // Held in memory: a due one is let go with its rows, a fresh one stays.
    expect(await purging.locate('due-c1')).toBeDefined();
    expect(await purging.locate('fresh1')).toBeDefined();

    const result = await purging.purgeStore();

    expect(result).toEqual({ finished: 6000, interrupted: 1000, events: 700_000 });
    expect(await countRows(db, STREAMS)).toBe(3001);
    expect(await countRows(db, EVENTS)).toBe(300_001);
    for (const prefix of ['fresh', 'live', 'onbus']) {
      expect(await countRows(db, STREAMS, `stream_id LIKE '${prefix}%'`)).toBe(1000);
      expect(await countRows(db, EVENTS, `stream_id LIKE '${prefix}%'`)).toBe(100_000);
    }
    expect(await countRows(db, STREAMS, `stream_id = 'here'`)).toBe(1);
    expect(purging.get('due-c1')).toBeUndefined();
    expect(purging.get('fresh1')).toBeDefined();
    expect(here.state).toBe('running');
    expect(await purging.purgeStore()).toEqual({ finished: 0, interrupted: 0, events: 0 });
  }, 120_000);

  it('a client reading a big stream while another instance purges it gets every event, or is cut and then 404', async () => {
    await insertStreams(db, {
      prefix: 'big',
      count: 1,
      events: 50_000,
      status: 'completed',
      updatedAt: old,
      finishedAt: old,
    });
    const serving = registry({ storeRetentionMs: undefined });
    const stream = (await serving.locate('big1'))!;
    const got = reader(stream, 700);
    await within(got.paused, 10_000, () => `paused at ${got.sequences.length}`);

    // Another instance (another registry on the same store) purges the rows mid-read.
    await registry().purgeStore();
    expect(await countRows(db, EVENTS, `stream_id = 'big1'`)).toBe(0);
    got.client.resume();
    await within(got.ended, 10_000, () => `ended after ${got.sequences.length} events`);

    expect(got.ends[0]).not.toBe('finished');
    expect(got.sequences.length).toBeLessThan(50_000);
    await assertAllOrGone(serving, 'big1', got, 50_000);
  }, 60_000);

  it('clients caught mid-catch-up by this registry purge are cut, then 404: never a silent hole', async () => {
    await insertStreams(db, {
      prefix: 'race',
      count: 4,
      events: 20_000,
      status: 'completed',
      updatedAt: old,
      finishedAt: old,
    });
    const purging = registry();
    // Each stops at another point of its catch-up, and goes on once the purge is done.
    const pauses = [700, 1_300, 9_000, 19_999];
    const readers = await Promise.all(
      pauses.map(async (pauseAfter, n) => {
        const id = `race${n + 1}`;
        return { id, got: reader((await purging.locate(id))!, pauseAfter) };
      }),
    );
    await Promise.all(readers.map(({ got }) => within(got.paused, 10_000, () => 'a reader did not pause')));
    await purging.purgeStore();
    for (const { got } of readers) got.client.resume();
    for (const { id, got } of readers) {
      await within(got.ended, 20_000, () => `${id} ended after ${got.sequences.length} events`);
      await assertAllOrGone(purging, id, got, 20_000);
      expect(got.ends).not.toEqual(['finished']);
    }
    expect(await countRows(db, EVENTS, `stream_id LIKE 'race%'`)).toBe(0);
  }, 60_000);

  it('deleteStream with staleBefore deletes only a stream still stored as running and unwritten since', async () => {
    const nothing = { streamIds: [], events: 0 };
    // Written after the cutoff (a producer that wrote meanwhile), or finished: kept.
    expect(await store.deleteStream('live1', { staleBefore: new Date(recent) })).toEqual(nothing);
    expect(await store.deleteStream('fresh1', { staleBefore: new Date(now) })).toEqual(nothing);
    expect(await countRows(db, EVENTS, `stream_id IN ('live1', 'fresh1')`)).toBe(200);
    expect(await store.deleteStream('live1', { staleBefore: new Date(now) })).toEqual({
      streamIds: ['live1'],
      events: 100,
    });
  });

  it('a purge transaction holds about 10,000 events at most: bigger streams go one by one', async () => {
    const older = old - 60_000;
    await insertStreams(db, {
      prefix: 'chunky',
      count: 3,
      events: 6000,
      status: 'completed',
      updatedAt: older,
      finishedAt: older,
    });
    const first = await store.purgeFinished({ before: new Date(old), limit: 100 });
    expect(first).toEqual({ streamIds: [expect.stringMatching(/^chunky/)], events: 6000 });
    expect(await countRows(db, STREAMS, `stream_id LIKE 'chunky%'`)).toBe(2);
    await store.purgeFinished({ before: new Date(old), limit: 100 });
    await store.purgeFinished({ before: new Date(old), limit: 100 });
    expect(await countRows(db, EVENTS, `stream_id LIKE 'chunky%'`)).toBe(0);
  });

  it('runs on its own timer, logs what it deleted at debug level, and stops with shutdown()', async () => {
    await insertStreams(db, {
      prefix: 'timed',
      count: 3,
      events: 10,
      status: 'completed',
      updatedAt: old,
      finishedAt: old,
    });
    let logged: (message: string) => void = () => undefined;
    const debug = new Promise<string>((resolve) => (logged = resolve));
    const logger = { log() {}, warn() {}, error() {}, debug: (message: string) => logged(message) };
    const timed = registry({ logger, storePurgeEveryMs: 20 });
    expect(await within(debug, 10_000, () => 'no debug line')).toMatch(
      /deleted 3 finished and 0 interrupted stream\(s\), 30 event\(s\)/,
    );
    await timed.shutdown({ graceMs: 0 });
    await insertStreams(db, {
      prefix: 'after',
      count: 1,
      events: 1,
      status: 'completed',
      updatedAt: old,
      finishedAt: old,
    });
    // A purge scheduled after shutdown would run within 20 ms; a later explicit purge would see it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await countRows(db, STREAMS, `stream_id = 'after1'`)).toBe(1);
  }, 30_000);
});
