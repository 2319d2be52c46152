import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  InProcessStreamBus,
  isStreamEvent,
  StreamProducedElsewhereError,
  StreamRegistry,
  type ResumableStream,
  type SseMessage,
  type StreamBus,
  type StreamEvent,
} from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually, within } from '../support/eventually.js';
import { PrivateRedisCluster } from '../support/private-redis-cluster.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';

/** Two instances' buses: one shared object in process, or two Redis connections. */
type BusPair = { a: StreamBus; b: StreamBus; close(): Promise<void> };
const kinds: [string, (leaseMs?: number) => BusPair][] = [
  [
    'in-process',
    () => {
      const bus = new InProcessStreamBus();
      return { a: bus, b: bus, close: () => bus.shutdown() };
    },
  ],
];
/** Started by the first suite that needs it (a private 3-master Redis Cluster), stopped after all. */
let cluster: PrivateRedisCluster | undefined;
if (redisAvailable()) {
  kinds.push([
    'redis',
    (leaseMs = 10_000) => {
      const keyPrefix = uniquePrefix();
      const options = { connection: process.env.REDIS_URL!, keyPrefix, leaseMs };
      const a = new RedisStreamBus(options);
      const b = new RedisStreamBus(options);
      return { a, b, close: async () => void (await Promise.all([a.shutdown(), b.shutdown()])) };
    },
  ]);
  kinds.push([
    'Redis Cluster',
    (leaseMs = 10_000) => {
      // Each instance has a Cluster client of its own (the bus does not close a client it is given).
      const clients = [cluster!.client(), cluster!.client()];
      const [a, b] = clients.map((connection) => new RedisStreamBus({ connection, keyPrefix: 'contract:', leaseMs }));
      return {
        a,
        b,
        close: async () => {
          await Promise.all([a.shutdown(), b.shutdown()]);
          await Promise.all(clients.map((client) => client.quit()));
        },
      };
    },
  ]);
  beforeAll(async () => {
    cluster = await new PrivateRedisCluster().start();
  }, 60_000);
  afterAll(() => cluster?.stop());
}

function collect(stream: ResumableStream, lastEventId?: string) {
  const events: StreamEvent[] = [];
  const messages: SseMessage[] = [];
  const done = new Promise<void>((resolve) =>
    stream.observe(lastEventId, { heartbeat: false }).subscribe({
      next: (message) => {
        messages.push(message);
        if (isStreamEvent(message)) events.push(message);
      },
      complete: resolve,
    }),
  );
  /** Once its stream has finished, the client ends within `ms`, or this fails saying where it stopped. */
  const ended = (ms = 5_000) =>
    within(done, ms, () => {
      const last = events.at(-1);
      return `the client did not end after its stream finished (${events.length} events, last ${last?.sequence} ${last?.type})`;
    });
  return { events, messages, done, ended };
}

async function produce(stream: ResumableStream, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    stream.send({ type: 'tick', data: { i } });
    if (i % 5 === 0) await nextTurn();
  }
  stream.complete();
}

describe.each(kinds)('streams across instances over the %s bus', (_kind, makeBuses) => {
  let buses: BusPair;
  afterEach(() => buses.close());

  it('a client of instance B follows a stream produced on instance A, live', async () => {
    buses = makeBuses();
    const a = new StreamRegistry({ heartbeatMs: 0, bus: buses.a });
    const b = new StreamRegistry({ heartbeatMs: 0, bus: buses.b });
    const produced = a.create();
    produced.send({ type: 'tick', data: { i: -1 } });
    await produced.whenShared();
    const followed = await b.locate(produced.id);
    expect(followed?.follower).toBe(true);
    const onA = collect(produced);
    const onB = collect(followed!);
    expect(() => followed!.send({ data: 'x' })).toThrow(/produced on another instance/);
    // Its events are the producer's to store: a typed 409 that names the fix, not a plain Error.
    await expect(followed!.persistAndClear()).rejects.toThrow(StreamProducedElsewhereError);
    await expect(followed!.persist()).rejects.toThrow(/call persist\(\) there/);
    await produce(produced, 200);
    await Promise.all([onA.ended(), onB.ended()]);
    expect(onB.events.map((e) => [e.id, e.type, e.data])).toEqual(onA.events.map((e) => [e.id, e.type, e.data]));
    expect(onB.events).toHaveLength(202);
    expect(onB.events.at(-1)!.type).toBe('done');
    await Promise.all([a.shutdown({ graceMs: 0 }), b.shutdown({ graceMs: 0 })]);
  });

  it('a client of A resumes on B with its Last-Event-ID: no gap, no duplicate', async () => {
    buses = makeBuses();
    const a = new StreamRegistry({ heartbeatMs: 0, bus: buses.a });
    const b = new StreamRegistry({ heartbeatMs: 0, bus: buses.b });
    const produced = a.create();
    // With a bus, an event is the stream's (and a client's) once the bus holds it: send() returns its id at once.
    const sent = Array.from({ length: 30 }, (_, i) => produced.send({ data: i })!);
    const lastSeenOnA = sent[16].id;
    await produced.whenShared();
    const followed = await b.locate(produced.id, lastSeenOnA);
    const rest = collect(followed!, lastSeenOnA);
    await produce(produced, 10);
    await rest.ended();
    expect(rest.events.map((e) => e.sequence)).toEqual(Array.from({ length: 41 - 17 }, (_, i) => 18 + i));
    await Promise.all([a.shutdown({ graceMs: 0 }), b.shutdown({ graceMs: 0 })]);
  });

  it('serves what the producer persisted and cleared from the store, then the bus, then live', async () => {
    buses = makeBuses();
    const db: TestDatabase = await openTestDatabase('sqlite');
    try {
      const store = new TypeOrmEventStore(db.dataSource);
      const manual = { heartbeatMs: 0, store, persistEveryEvents: 0, persistEveryMs: 0 };
      const a = new StreamRegistry({ ...manual, bus: buses.a });
      const b = new StreamRegistry({ ...manual, bus: buses.b });
      const produced = a.create();
      for (let i = 0; i < 50; i++) produced.send({ data: i });
      await produced.persistAndClear();
      for (let i = 50; i < 60; i++) produced.send({ data: i });
      // Let the trim and the new events reach the bus.
      await produced.whenShared();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const followed = await b.locate(produced.id);
      const whole = collect(followed!);
      await produce(produced, 5);
      await whole.ended();
      expect(whole.events.map((e) => e.sequence)).toEqual(Array.from({ length: 66 }, (_, i) => i + 1));
      await a.shutdown({ graceMs: 0 });
      await b.shutdown({ graceMs: 0 });
    } finally {
      await db.close();
    }
  });

  it('lets go of a follower of a running stream on remove() and shutdown(); the stream goes on', async () => {
    buses = makeBuses();
    const a = new StreamRegistry({ heartbeatMs: 0, bus: buses.a });
    const b = new StreamRegistry({ heartbeatMs: 0, bus: buses.b });
    const produced = a.create();
    produced.send({ data: 1 });
    await produced.whenShared();
    expect((await b.locate(produced.id))?.follower).toBe(true);
    expect(b.remove(produced.id)).toBe(true);
    expect((await b.locate(produced.id))?.follower).toBe(true);
    await expect(b.shutdown({ graceMs: 0 })).resolves.toBeUndefined();
    expect(produced.state).toBe('running');
    produced.send({ data: 2 });
    produced.complete();
    await a.shutdown({ graceMs: 0 });
  });

  it('a follower learns how far the producer stored: old positions come from the store, not a reset', async () => {
    buses = makeBuses();
    const db = await openTestDatabase('sqlite');
    try {
      const store = new TypeOrmEventStore(db.dataSource);
      const options = { heartbeatMs: 0, store, bufferMaxEvents: 10, persistEveryEvents: 5, persistEveryMs: 0 };
      const a = new StreamRegistry({ ...options, bus: buses.a });
      const b = new StreamRegistry({ ...options, bus: buses.b });
      const produced = a.create();
      produced.send({ data: 0 });
      await produced.whenShared();
      const followed = (await b.locate(produced.id))!;
      for (let i = 1; i < 60; i++) {
        produced.send({ data: i });
        if (i % 5 === 0) await nextTurn();
      }
      // Stored by the producer; the follower hears of it (in process at once, over Redis by a message).
      await eventually(() => produced.persistedThrough >= 55);
      await new Promise((resolve) => setTimeout(resolve, 600));
      const resumed = collect(followed, `${produced.epoch}-5`);
      produced.complete();
      await resumed.ended();
      expect(resumed.messages.some((message) => 'type' in message && message.type === 'reset')).toBe(false);
      expect(resumed.events.map((e) => e.sequence)).toEqual(Array.from({ length: 56 }, (_, i) => i + 6));
      await Promise.all([a.shutdown({ graceMs: 0 }), b.shutdown({ graceMs: 0 })]);
    } finally {
      await db.close();
    }
  });

  it('knows nothing of a stream nobody produced', async () => {
    buses = makeBuses();
    const b = new StreamRegistry({ heartbeatMs: 0, bus: buses.b });
    expect(await b.locate('nobody-made-this')).toBeUndefined();
    await b.shutdown({ graceMs: 0 });
  });
});
