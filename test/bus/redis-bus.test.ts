import { setImmediate as nextTurn } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { isStreamEvent, StreamRegistry, type ResumableStream, type StreamEvent } from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase } from '../support/databases.js';
import { eventually, within } from '../support/eventually.js';
import { PrivateRedis } from '../support/private-redis.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key, mod 16384. */
function clusterSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

function collect(stream: ResumableStream, lastEventId?: string) {
  const events: StreamEvent[] = [];
  let completed = false;
  const done = new Promise<void>((resolve) =>
    stream.observe(lastEventId, { heartbeat: false }).subscribe({
      next: (message) => isStreamEvent(message) && events.push(message),
      complete: () => {
        completed = true;
        resolve();
      },
    }),
  );
  return {
    events,
    done,
    /** Once its stream has finished, the client ends within `ms`, or this fails saying where it stopped. */
    ended: (ms = 5_000) =>
      within(done, ms, () => {
        const last = events.at(-1);
        return `the client did not end after its stream finished (${events.length} events, last ${last?.sequence} ${last?.type})`;
      }),
    get completed() {
      return completed;
    },
  };
}

describeIfRedis('the Redis bus', () => {
  it('ends a stream whose producing instance died with the final error event, once its lease ran out', async () => {
    const keyPrefix = uniquePrefix();
    const leaseMs = 900;
    const doomed = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const a = new StreamRegistry({
      heartbeatMs: 0,
      bus: new RedisStreamBus({ connection: doomed, keyPrefix, leaseMs }),
    });
    const busB = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix, leaseMs });
    const b = new StreamRegistry({ heartbeatMs: 0, bus: busB });
    const admin = new Redis(process.env.REDIS_URL!);
    const produced = a.create();
    try {
      for (let i = 0; i < 10; i++) produced.send({ data: i });
      await produced.whenShared();
      const client = collect((await b.locate(produced.id))!);
      await eventually(() => client.events.length === 10);
      // The instance is gone: its connection drops and nothing renews its lease any more.
      doomed.disconnect();
      // Once the instance's lease (0.9 s) has run out, B's sweep appends the final error event
      // (10 s is far past the lease: this fails only for an instance that never sweeps)...
      const meta = `${keyPrefix}{${produced.id}}:meta`;
      await eventually(async () => (await admin.hget(meta, 'status')) === 'failed', 10_000);
      // ...and its client receives it and ends.
      await client.ended();
      const last = client.events.at(-1)!;
      expect(last.type).toBe('error');
      expect(JSON.parse(last.data)).toMatchObject({ status: 'failed', reason: 'producer_lost' });
      expect(last.sequence).toBe(11);
    } finally {
      await admin.quit();
      await b.shutdown({ graceMs: 0 });
      produced.cancel();
      await a.shutdown({ graceMs: 0 });
    }
  });

  it('keeps a finished stream in Redis for its retention only: keys hash-tagged by stream id, out of the lease', async () => {
    const keyPrefix = uniquePrefix();
    const bus = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix });
    const registry = new StreamRegistry({ heartbeatMs: 0, retentionMs: 60_000, bus });
    const owned = `${keyPrefix}{index}:owned:${bus.instanceId}`;
    const admin = new Redis(process.env.REDIS_URL!);
    try {
      const stream = registry.create();
      await stream.whenShared();
      const base = `${keyPrefix}{${stream.id}}`;
      expect(await admin.hgetall(`${base}:meta`)).toMatchObject({ epoch: stream.epoch, status: 'running' });
      expect(await admin.sismember(owned, stream.id)).toBe(1);
      expect(await admin.pttl(owned)).toBeGreaterThan(0);
      stream.send({ data: 1 });
      stream.complete();
      await eventually(async () => (await admin.sismember(owned, stream.id)) === 0);
      for (const key of [`${base}:meta`, `${base}:events`]) {
        const ttl = await admin.pttl(key);
        expect([key, ttl > 50_000 && ttl <= 60_000]).toEqual([key, true]);
      }
      expect(await admin.hget(`${base}:meta`, 'status')).toBe('completed');
      expect(await admin.xlen(`${base}:events`)).toBe(2);
      // Every key of one stream hashes to one Redis Cluster slot (and untagged keys would not).
      expect(new Set(['meta', 'events'].map((k) => clusterSlot(`${base}:${k}`))).size).toBe(1);
      expect(clusterSlot(`${keyPrefix}${stream.id}:meta`)).not.toBe(clusterSlot(`${keyPrefix}${stream.id}:events`));
    } finally {
      await admin.quit();
      await registry.shutdown({ graceMs: 0 });
    }
  });

  it('sends a number of Redis commands per event that grows with instances, not with clients', async () => {
    const admin = new Redis(process.env.REDIS_URL!);
    const commandCount = async () => {
      const info = await admin.info('commandstats');
      return [...info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[2]), 0);
    };
    const run = async (clientsPerInstance: number) => {
      const keyPrefix = uniquePrefix();
      const registries = [0, 1, 2].map(
        () =>
          new StreamRegistry({
            heartbeatMs: 0,
            bus: new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix }),
          }),
      );
      try {
        const produced = registries[0].create();
        const clients = [];
        for (const registry of registries) {
          await produced.whenShared();
          const stream = (await registry.locate(produced.id))!;
          for (let c = 0; c < clientsPerInstance; c++) clients.push(collect(stream));
        }
        const before = await commandCount();
        for (let i = 0; i < 300; i++) {
          produced.send({ data: i });
          if (i % 10 === 0) await nextTurn();
        }
        produced.complete();
        await Promise.all(clients.map((client) => client.ended()));
        const perEvent = ((await commandCount()) - before - 1) / 301;
        expect(clients).toHaveLength(3 * clientsPerInstance);
        for (const client of clients) expect(client.events).toHaveLength(301);
        return perEvent;
      } finally {
        await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
      }
    };
    const [few, many] = await (async () => {
      try {
        return [await run(2), await run(100)];
      } finally {
        await admin.quit();
      }
    })();
    // Three instances: one script call per append (commandstats also counts the XADD per event
    // and the few bookkeeping commands it runs inside Redis); followers send nothing per event.
    expect(few).toBeLessThan(4);
    expect(many).toBeLessThan(4);
    expect(Math.abs(many - few)).toBeLessThan(1);
  });

  it('keeps clients going through a Redis restart that lost every key, with no silent gap', async () => {
    const redis = await new PrivateRedis().start();
    const db = await openTestDatabase('sqlite');
    const registries: StreamRegistry[] = [];
    try {
      const store = new TypeOrmEventStore(db.dataSource);
      const options = { connection: redis.url, keyPrefix: 'restart:', leaseMs: 3_000 };
      const common = { heartbeatMs: 0, store, persistEveryEvents: 5, persistEveryMs: 50 };
      const a = new StreamRegistry({ ...common, bus: new RedisStreamBus(options) });
      const b = new StreamRegistry({ ...common, bus: new RedisStreamBus(options) });
      registries.push(a, b);
      const produced = a.create();
      await produced.whenShared();
      const producing = (async () => {
        for (let i = 0; i < 120; i++) {
          produced.send({ data: i });
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        produced.complete();
      })();
      const client = collect((await b.locate(produced.id))!);
      await eventually(() => client.events.length >= 20);
      await redis.kill();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await redis.start();
      await producing;
      await client.ended(10_000);
      const all = Array.from({ length: 121 }, (_, i) => i + 1);
      expect(client.events.map((event) => event.sequence)).toEqual(all);
      expect(client.events.at(-1)!.type).toBe('done');

      // Redis lost what it held before the restart. An instance that joins now gets the rest
      // from the database...
      const c = new StreamRegistry({ ...common, bus: new RedisStreamBus(options) });
      registries.push(c);
      const fromStart = collect((await c.locate(produced.id))!);
      await fromStart.ended();
      expect(fromStart.events.map((event) => event.sequence)).toEqual(all);
      // ...and one without a database is told, never handed a silent gap.
      const d = new StreamRegistry({ heartbeatMs: 0, bus: new RedisStreamBus(options) });
      registries.push(d);
      const messages: string[] = [];
      const withoutStore = (await d.locate(produced.id))!;
      await within(
        new Promise<void>((resolve) =>
          withoutStore.observe(undefined, { heartbeat: false }).subscribe({
            next: (message) => messages.push('type' in message ? message.type : 'marker'),
            complete: resolve,
          }),
        ),
        5_000,
        () => `the client without a store did not end (${messages.join(' ')})`,
      );
      expect(messages[0]).toBe('reset');
      expect(messages.at(-1)).toBe('done');
    } finally {
      await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
      await redis.kill();
      await db.close();
    }
  }, 30_000);
});
