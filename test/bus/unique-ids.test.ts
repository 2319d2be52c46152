import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  InProcessStreamBus,
  isStreamEvent,
  StreamAlreadyExistsError,
  StreamRegistry,
  type ResumableStream,
  type StreamEvent,
} from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;

function collect(stream: ResumableStream) {
  const events: StreamEvent[] = [];
  const done = new Promise<void>((resolve) =>
    stream.observe(undefined, { heartbeat: false }).subscribe({
      next: (message) => isStreamEvent(message) && events.push(message),
      complete: resolve,
    }),
  );
  return { events, done };
}

/**
 * A producer that sends at once (before any claim can have settled) and then on every turn until
 * aborted: whatever of it escaped would show up in the other stream's keys.
 */
function intruder() {
  let aborted = false;
  const producer = async ({ signal, send }: { signal: AbortSignal; send: (input: { data: unknown }) => unknown }) => {
    for (let i = 0; i < 5; i++) send({ data: `intruder ${i}` });
    while (!signal.aborted) {
      send({ data: 'intruder' });
      await sleep(5);
    }
    aborted = true;
  };
  return {
    producer,
    get aborted() {
      return aborted;
    },
  };
}

describeIfRedis('stream ids are unique across instances (Redis bus)', () => {
  const registries: StreamRegistry[] = [];
  const databases: TestDatabase[] = [];
  let admin: Redis;
  let keyPrefix: string;
  beforeEach(() => {
    admin = new Redis(process.env.REDIS_URL!);
    keyPrefix = uniquePrefix();
  });
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((registry) => registry.shutdown({ graceMs: 0 })));
    await Promise.all(databases.splice(0).map((db) => db.close()));
    const keys = await admin.keys(`${keyPrefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  const instance = (options: Partial<ConstructorParameters<typeof StreamRegistry>[0]> = {}) => {
    const bus = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix });
    const registry = new StreamRegistry({ heartbeatMs: 0, bus, ...options });
    registries.push(registry);
    return { registry, bus };
  };
  const keysOf = (id: string) => ({
    meta: `${keyPrefix}{${id}}:meta`,
    events: `${keyPrefix}{${id}}:events`,
  });
  const snapshot = async (id: string) => {
    const keys = keysOf(id);
    return {
      meta: await admin.hgetall(keys.meta),
      events: await admin.xrange(keys.events, '-', '+'),
      metaTtl: (await admin.pttl(keys.meta)) > 0,
    };
  };

  it('refuses a given id another instance runs: whenShared() rejects, nothing of the owner changes', async () => {
    const db = await openTestDatabase('sqlite');
    databases.push(db);
    const store = new TypeOrmEventStore(db.dataSource);
    // The owner has stored nothing yet; the refused stream would store at once.
    const a = instance({ store, persistEveryEvents: 1000, persistEveryMs: 60_000 });
    const b = instance({ store, persistEveryEvents: 1, persistEveryMs: 10 });
    const c = instance();
    const owner = a.registry.create(undefined, { id: 'taken' });
    owner.send({ data: 'first' });
    owner.send({ data: 'second' });
    await owner.whenShared();
    const local = collect(owner);
    const client = collect((await c.registry.locate('taken'))!);
    await eventually(() => client.events.length === 2);
    await eventually(async () => (await admin.xlen(keysOf('taken').events)) === 2);
    const before = await snapshot('taken');
    expect(before.meta.epoch).toBe(owner.epoch);
    expect(before.meta.owner).toBe(a.bus.instanceId);
    expect(await admin.sismember(`${keyPrefix}{index}:owned:${a.bus.instanceId}`, 'taken')).toBe(1);

    const refused = intruder();
    const second = b.registry.create(refused.producer, { id: 'taken' });
    const error = await second.whenShared().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(StreamAlreadyExistsError);
    expect((error as StreamAlreadyExistsError).status).toBe(409);
    // By the time the caller hears of it, the stream is gone and its producer aborted.
    expect(second.signal.aborted).toBe(true);
    expect(b.registry.get('taken')).not.toBe(second);
    await eventually(() => refused.aborted);
    // Long enough for anything the refused stream sent to have reached Redis.
    await sleep(100);
    expect(await snapshot('taken')).toEqual(before);
    expect(await store.loadMeta('taken')).toBeUndefined();

    // The owner and its clients go on as if nothing happened.
    owner.send({ data: 'third' });
    owner.complete();
    await Promise.all([client.done, local.done]);
    for (const { events } of [client, local]) {
      expect(events.map((event) => event.data)).toEqual(['first', 'second', 'third', expect.any(String)]);
      expect(events.every((event) => event.epoch === owner.epoch)).toBe(true);
    }
  });

  it('refuses a given id whose stream finished but is still in Redis for its retention', async () => {
    const a = instance({ retentionMs: 60_000 });
    const b = instance();
    const owner = a.registry.create(undefined, { id: 'retained' });
    owner.send({ data: 'only' });
    owner.complete();
    await owner.whenShared();
    await eventually(async () => (await admin.hget(keysOf('retained').meta, 'status')) === 'completed');
    const before = await snapshot('retained');
    expect(before.metaTtl).toBe(true);

    const second = b.registry.create(intruder().producer, { id: 'retained' });
    await expect(second.whenShared()).rejects.toBeInstanceOf(StreamAlreadyExistsError);
    await sleep(100);
    expect(await snapshot('retained')).toEqual(before);
  });

  it('refuses a given id the store knows once Redis has let go of it; the store is unchanged', async () => {
    const db = await openTestDatabase('sqlite');
    databases.push(db);
    const store = new TypeOrmEventStore(db.dataSource);
    const a = instance({ store, retentionMs: 50 });
    const owner = a.registry.create(undefined, { id: 'stored' });
    owner.send({ data: 'kept' });
    owner.complete();
    await owner.whenShared();
    await owner.persist();
    await eventually(async () => (await admin.exists(keysOf('stored').meta)) === 0);
    const before = await store.loadMeta('stored');
    expect(before?.epoch).toBe(owner.epoch);

    const b = instance({ store, persistEveryEvents: 1 });
    const second = b.registry.create(intruder().producer, { id: 'stored' });
    await expect(second.whenShared()).rejects.toBeInstanceOf(StreamAlreadyExistsError);
    await sleep(100);
    expect(await store.loadMeta('stored')).toEqual(before);
    expect((await store.readAfter('stored', 0, 100)).map((event) => event.data)).toEqual(['kept', expect.any(String)]);
    // Nothing was claimed in Redis either.
    expect(await admin.exists(keysOf('stored').meta, keysOf('stored').events)).toBe(0);

    // The same without a bus: the store alone settles it.
    const alone = new StreamRegistry({ heartbeatMs: 0, store });
    registries.push(alone);
    const third = alone.create(intruder().producer, { id: 'stored' });
    await expect(third.whenShared()).rejects.toBeInstanceOf(StreamAlreadyExistsError);
    expect(alone.has('stored')).toBe(false);
    await sleep(100);
    expect(await store.loadMeta('stored')).toEqual(before);
  });

  it('creates streams with generated ids and free given ids as before', async () => {
    const a = instance();
    const generated = a.registry.create();
    generated.send({ data: 1 });
    await generated.whenShared();
    const given = a.registry.create(undefined, { id: 'free' });
    await given.whenShared();
    expect(a.registry.get(generated.id)).toBe(generated);
    expect(a.registry.get('free')).toBe(given);
    await eventually(async () => (await admin.xlen(keysOf(generated.id).events)) === 1);
    expect(await admin.hget(keysOf(generated.id).meta, 'epoch')).toBe(generated.epoch);
  });

  it('lets the owner say again that it holds its stream after a reconnect (same epoch)', async () => {
    const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const bus = new RedisStreamBus({ connection, keyPrefix });
    const a = new StreamRegistry({ heartbeatMs: 0, bus });
    registries.push(a);
    try {
      const owner = a.create(undefined, { id: 'reasserted' });
      await owner.whenShared();
      // Redis lost what the owner wrote besides the epoch: only the owner's claim, said again on
      // 'ready', writes it back.
      await admin.hdel(keysOf('reasserted').meta, 'owner');
      connection.disconnect(true);
      await eventually(async () => (await admin.hget(keysOf('reasserted').meta, 'owner')) === bus.instanceId);
      expect(await admin.hget(keysOf('reasserted').meta, 'epoch')).toBe(owner.epoch);
      owner.send({ data: 'after' });
      await eventually(async () => (await admin.xlen(keysOf('reasserted').events)) === 1);
    } finally {
      await a.shutdown({ graceMs: 0 });
      connection.disconnect();
    }
  });
});

describe('stream ids are unique across registries sharing the in-process bus', () => {
  it('refuses a given id another registry runs; the owner keeps its events on the bus', async () => {
    const bus = new InProcessStreamBus();
    const a = new StreamRegistry({ heartbeatMs: 0, bus });
    const b = new StreamRegistry({ heartbeatMs: 0, bus });
    try {
      const owner = a.create(undefined, { id: 'shared' });
      owner.send({ data: 'mine' });
      await owner.whenShared();
      const refused = intruder();
      const second = b.create(refused.producer, { id: 'shared' });
      await expect(second.whenShared()).rejects.toBeInstanceOf(StreamAlreadyExistsError);
      expect(b.has('shared')).toBe(false);
      await eventually(() => refused.aborted);
      expect((await bus.lookup('shared'))?.epoch).toBe(owner.epoch);
      expect((await bus.read('shared', 0, 100)).map((event) => event.data)).toEqual(['mine']);
    } finally {
      await a.shutdown({ graceMs: 0 });
      await b.shutdown({ graceMs: 0 });
    }
  });
});
