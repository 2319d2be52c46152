import { Redis } from 'ioredis';
import {
  InProcessStreamBus,
  StreamNotFoundError,
  StreamRegistry,
  type EventStore,
  type ProducerContext,
  type StoredEvent,
  type StoredStreamMeta,
  type StreamEvent,
} from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { databaseKinds, useStore, type TestDatabase } from '../support/databases.js';
import { within } from '../support/eventually.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;

/** Sends `count` events, then runs until aborted. */
function running(count: number) {
  return async ({ signal, send }: ProducerContext) => {
    for (let n = 1; n <= count; n++) send({ data: { n } });
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  };
}

/** A sink that records what it is given and how it ended. */
function sink() {
  let ended: () => void = () => undefined;
  const got = {
    events: [] as StreamEvent[],
    ends: [] as string[],
    ended: new Promise<void>((resolve) => (ended = resolve)),
    write: (event: StreamEvent) => (got.events.push(event), true),
    end: (reason: string) => (got.ends.push(reason), ended()),
  };
  return got;
}

const notFound = (registry: StreamRegistry, id: string) =>
  expect(Promise.resolve().then(() => registry.admit(id, undefined, {}))).rejects.toBeInstanceOf(StreamNotFoundError);

describe.each(databaseKinds())('registry.delete() on %s', (kind) => {
  let db: TestDatabase;
  let store: TypeOrmEventStore;
  useStore(kind, (opened) => ({ db, store } = opened));
  let registries: StreamRegistry[] = [];
  afterEach(async () => {
    await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
    registries = [];
  });

  describeIfRedis('with the Redis bus', () => {
    let admin: Redis;
    beforeAll(() => (admin = new Redis(process.env.REDIS_URL!)));
    afterAll(() => admin.quit());
    const instance = (keyPrefix: string) => {
      const bus = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix });
      const registry = new StreamRegistry({ store, bus, heartbeatMs: 0, activeKeys: ['chatId'] });
      registries.push(registry);
      return registry;
    };

    it('cancels a running stream, ends its clients, deletes memory, store rows and Redis keys; the id is free again and unknown meanwhile', async () => {
      const prefix = uniquePrefix();
      const [a, c] = [instance(prefix), instance(prefix)];
      const stream = a.create(running(30), { id: 'del-1', metadata: { chatId: 'c1' } });
      await stream.whenShared();
      await stream.whenIssued(30, 5_000);
      await stream.persist();
      const client = sink();
      stream.attach(client);
      expect(await admin.exists(`${prefix}{del-1}:meta`, `${prefix}{active:chatId=c1}`)).toBe(2);

      const deletion = await a.delete('del-1');

      expect(deletion).toEqual({ memory: true, cancelled: true, stored: true, storedEvents: 31, bus: true });
      await within(client.ended, 5_000, () => 'the client was not ended');
      expect(stream.state).toBe('cancelled');
      expect(a.get('del-1')).toBeUndefined();
      expect(await store.loadMeta('del-1')).toBeUndefined();
      expect(await store.readAfter('del-1', 0, 100)).toEqual([]);
      expect(await admin.keys(`${prefix}{del-1}*`)).toEqual([]);
      expect(await admin.exists(`${prefix}{active:chatId=c1}`)).toBe(0);
      await notFound(a, 'del-1');
      await notFound(c, 'del-1');
      expect(await c.findActive({ chatId: 'c1' })).toBeUndefined();

      // Free again, on this instance and on another.
      const again = c.create(running(1), { id: 'del-1', metadata: { chatId: 'c1' } });
      await expect(again.whenShared()).resolves.toBeUndefined();
      expect((await a.locate('del-1'))?.epoch).toBe(again.epoch);
      await a.delete('del-1');
      await expect(a.create(running(1), { id: 'del-1' }).whenShared()).resolves.toBeUndefined();
      await admin.del(await admin.keys(`${prefix}*`));
    });

    it('RedisStreamBus.delete() forgets a running stream: keys, active entry, lease; another epoch may open the id', async () => {
      const keyPrefix = uniquePrefix();
      const bus = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix });
      const descriptor = { metadata: { chatId: 'c2' }, options: {}, active: ['chatId=c2'] };
      const options = { stored: false, lostEvent: { type: 'error', data: '{}' }, retentionMs: 1_000, descriptor };
      await bus.open('raw', 'e1', options);
      await bus.append('raw', [{ sequence: 1, type: 'message', data: 'x' }]);
      expect(await bus.findActive('chatId=c2')).toBe('raw');

      expect(await bus.delete('raw')).toBe(true);
      expect(await admin.keys(`${keyPrefix}{raw}*`)).toEqual([]);
      expect(await bus.findActive('chatId=c2')).toBeUndefined();
      expect(await admin.smembers(`${keyPrefix}{index}:owned:${bus.instanceId}`)).toEqual([]);
      expect(await bus.delete('raw')).toBe(false);
      await expect(bus.open('raw', 'e2', options)).resolves.toBeUndefined();
      await bus.shutdown();
      await admin.del(await admin.keys(`${keyPrefix}*`));
    });
  });

  it('deletes a finished stream held only by the store (after a restart), and an unknown id is nothing to delete', async () => {
    const first = new StreamRegistry({ store });
    const stream = first.create(undefined, { id: 'del-2' });
    await stream.whenShared();
    stream.send({ data: 'one' });
    stream.complete();
    await stream.whenFinished();
    await stream.persist();
    await first.shutdown({ graceMs: 0 });
    const restarted = new StreamRegistry({ store });
    registries.push(restarted);

    expect(await restarted.delete('del-2')).toEqual({ memory: false, cancelled: false, stored: true, storedEvents: 2 });
    await notFound(restarted, 'del-2');
    expect(await restarted.delete('del-2')).toEqual({
      memory: false,
      cancelled: false,
      stored: false,
      storedEvents: 0,
    });
    await expect(restarted.delete('bad id!')).rejects.toMatchObject({ status: 400 });
    await expect(restarted.create(undefined, { id: 'del-2' }).whenShared()).resolves.toBeUndefined();
    expect(db.kind).toBe(kind);
  });
});

describe('registry.delete() with the in-process bus and a custom store without the optional methods', () => {
  /** The three required methods only, in memory. */
  function minimalStore(): EventStore {
    const metas = new Map<string, StoredStreamMeta>();
    const events = new Map<string, StoredEvent[]>();
    return {
      async append(meta, appended) {
        metas.set(meta.streamId, meta);
        events.set(meta.streamId, [...(events.get(meta.streamId) ?? []), ...appended]);
      },
      async readAfter(id, after, limit) {
        return (events.get(id) ?? []).filter((event) => event.sequence > after).slice(0, limit);
      },
      async loadMeta(id) {
        return metas.get(id);
      },
    };
  }

  it('keeps working: retention says once at start-up that it is off, delete() deletes what it can and says so', async () => {
    const warnings: string[] = [];
    const logger = { log() {}, error() {}, warn: (message: string) => warnings.push(message) };
    const store = minimalStore();
    const bus = new InProcessStreamBus();
    const registry = new StreamRegistry({ store, bus, logger, storeRetentionMs: 1_000 });
    expect(warnings).toEqual([
      expect.stringMatching(
        /storeRetentionMs is set, but the store has no purgeFinished\(\) method: store retention is off/,
      ),
    ]);
    const other = new StreamRegistry({ bus });
    const stream = registry.create(undefined, { id: 'del-3' });
    await stream.whenShared();
    stream.send({ data: 'x' });
    stream.complete();
    await stream.whenFinished();
    expect(await registry.purgeStore()).toEqual({ finished: 0, interrupted: 0, events: 0 });

    expect(await registry.delete('del-3')).toEqual({ memory: true, cancelled: false, bus: true });
    expect(warnings.at(-1)).toMatch(/the store has no deleteStream\(\) method, its rows stay/);
    expect(await bus.lookup('del-3')).toBeUndefined();
    // The bus forgot it: another instance may take the id (this one's store still holds it).
    await expect(other.create(undefined, { id: 'del-3' }).whenShared()).resolves.toBeUndefined();
    await registry.shutdown({ graceMs: 0 });
    await other.shutdown({ graceMs: 0 });
  });
});
