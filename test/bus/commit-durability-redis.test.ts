import { StreamRegistry, type StreamEvent } from 'nestjs-meridian-stream';
import { Redis } from 'ioredis';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { redisAvailable, uniquePrefix } from '../support/redis.js';
import { SwitchableStore } from '../support/switchable-store.js';
import { eventually } from '../support/eventually.js';
import { recordingSink } from '../unit/helpers.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;

/*
 * durability: 'commit' across instances on Redis: a follower's clients get an event only once
 * the producing instance has reported its commit through the bus, the final event included
 * (the bus's follow ends at the final event; the follower must still learn that it is stored).
 */
describeIfRedis("durability: 'commit' on a Redis follower", () => {
  it('hands the follower client only stored events, up to and with the final one', async () => {
    const keyPrefix = uniquePrefix();
    const store = new SwitchableStore();
    const buses = [0, 1].map(() => new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix }));
    const [producing, following] = buses.map((bus) => new StreamRegistry({ store, bus, heartbeatMs: 0 }));
    try {
      const stream = producing.create(undefined, { durability: 'commit' });
      await stream.whenShared();
      stream.send({ data: 'one' });
      await eventually(() => stream.persistedThrough === 1);
      const followed = (await following.locate(stream.id))!;
      expect(followed.follower).toBe(true);
      const unstoredSeen: number[] = [];
      const sink = recordingSink((event: StreamEvent) => {
        if (!store.sequences(stream.id).includes(event.sequence)) unstoredSeen.push(event.sequence);
        return true;
      });
      followed.attach(sink);
      await eventually(() => sink.events.length === 1);

      store.down = true;
      stream.send({ data: 'two' });
      await store.nextAttempts(1);
      await eventually(() => followed.lastSequence === 2);
      expect(sink.events).toHaveLength(1);

      store.down = false;
      stream.send({ data: 'three' });
      stream.complete();
      await eventually(() => sink.ends.length === 1);
      expect(unstoredSeen).toEqual([]);
      expect(sink.events.map((event) => event.sequence)).toEqual([1, 2, 3, 4]);
      expect(sink.ends).toEqual(['finished']);
    } finally {
      await following.shutdown({ graceMs: 0 });
      await producing.shutdown({ graceMs: 0 });
    }
  }, 30_000);

  it('delivers the rest as the bus holds it, and the final error, when the producing instance is lost', async () => {
    const keyPrefix = uniquePrefix();
    const leaseMs = 900;
    const store = new SwitchableStore();
    const doomed = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const producing = new StreamRegistry({
      store,
      heartbeatMs: 0,
      bus: new RedisStreamBus({ connection: doomed, keyPrefix, leaseMs }),
    });
    const following = new StreamRegistry({
      store,
      heartbeatMs: 0,
      bus: new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix, leaseMs }),
    });
    try {
      const stream = producing.create(undefined, { durability: 'commit' });
      await stream.whenShared();
      stream.send({ data: 'one' });
      await eventually(() => stream.persistedThrough === 1);
      const followed = (await following.locate(stream.id))!;
      const sink = recordingSink();
      followed.attach(sink);
      await eventually(() => sink.events.length === 1);
      store.down = true;
      stream.send({ data: 'two' });
      await eventually(() => followed.lastSequence === 2);
      // The producing instance is gone before it could store "two": nobody ever will.
      doomed.disconnect();
      await eventually(() => sink.ends.length === 1, 10_000);
      expect(sink.events.map((event) => event.sequence)).toEqual([1, 2, 3]);
      expect(JSON.parse(sink.events[2].data)).toMatchObject({ reason: 'producer_lost' });
      expect(sink.ends).toEqual(['finished']);
    } finally {
      await following.shutdown({ graceMs: 0 });
      await producing.shutdown({ graceMs: 0 });
    }
  }, 30_000);
});
