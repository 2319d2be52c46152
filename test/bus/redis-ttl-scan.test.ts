import { Redis } from 'ioredis';
import { eventually } from '../support/eventually.js';
import { redisAvailable } from '../support/redis.js';
import {
  events,
  openOptions,
  pauseLease,
  recorder,
  redisTargets,
  streamId,
  type RedisTarget,
} from './redis-targets.js';

/*
 * Every key the Redis bus writes expires: a TTL at its first write, kept in every state a stream
 * goes through. The scan looks at every key of the prefix, on every node.
 */

/** Keys under `pattern` with no TTL, over every node (SCAN, never KEYS). */
async function keysWithoutTtl(nodes: Redis[], pattern: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const key of keys) if ((await node.pttl(key)) === -1) found.push(key);
    } while (cursor !== '0');
  }
  return found;
}

async function keyCount(nodes: Redis[], pattern: string): Promise<number> {
  let count = 0;
  for (const node of nodes) count += (await node.keys(pattern)).length;
  return count;
}

/** Streams in every state a stream can be in, under prefix `ttl:`. */
async function everyState(target: RedisTarget): Promise<void> {
  const options = { keyPrefix: 'ttl:', leaseMs: 600 };
  const producer = target.bus(options);
  const doomed = target.bus(options);
  const follower = target.bus(options);
  const ids = Object.fromEntries(
    ['running', 'finished', 'closed', 'lost', 'persisted', 'followed', 'controlled', 'retried'].map((state) => [
      state,
      streamId(state),
    ]),
  );
  for (const [state, id] of Object.entries(ids)) {
    const bus = state === 'lost' ? doomed : producer;
    // Every stream is indexed as active (findActive) by its own entry: those keys expire too.
    const descriptor = { metadata: { chatId: state }, options: {}, active: [`chatId=${state}`] };
    const onControl = state === 'controlled' ? { onControl: () => undefined } : {};
    await bus.open(id, 'e', openOptions({ ...onControl, descriptor }));
    expect(await bus.append(id, events(1, 3))).toEqual({ accepted: true });
  }
  expect(await producer.append(ids.finished, events(4, 4, 'completed'))).toEqual({ accepted: true });
  producer.close(ids.closed, 60_000);
  producer.persisted(ids.persisted, 2);
  expect(await producer.append(ids.retried, events(2, 5))).toEqual({ accepted: true });
  expect(await producer.control(ids.controlled, { type: 'cancel' })).toBe(true);
  const watcher = recorder();
  follower.follow(ids.followed, 0, watcher.follower);
  const lost = recorder();
  follower.follow(ids.lost, 0, lost.follower);
  await eventually(() => watcher.got.length === 3);
  pauseLease(doomed);
  await lost.done;
  expect(lost.got.at(-1)?.final).toBe('failed');
  // The persisted() call is fire-and-forget: wait until Redis has it.
  await eventually(async () => (await target.admin().hget(`ttl:{${ids.persisted}}:meta`, 'persistedThrough')) === '2');
}

describe.each(redisTargets())('every key the Redis bus writes expires (private $name)', (target) => {
  beforeAll(() => target.start(), 60_000);
  afterAll(() => target.stop());

  it('finds no key of the prefix without a TTL, whatever state its stream is in', async () => {
    try {
      await everyState(target);
      // Meta and events of 8 streams, the instances set and the owned sets are there, and the
      // active index keys of the streams still running...
      expect(await keyCount(target.nodes(), 'ttl:*')).toBeGreaterThanOrEqual(17);
      expect(await keyCount(target.nodes(), 'ttl:{active:*')).toBeGreaterThanOrEqual(4);
      // ...and each of them expires.
      expect(await keysWithoutTtl(target.nodes(), 'ttl:*')).toEqual([]);
    } finally {
      await target.closeAll();
    }
    expect(await keysWithoutTtl(target.nodes(), 'ttl:*')).toEqual([]);
  }, 30_000);
});

// The suites on the shared Redis (test/support/redis.ts uniquePrefix) leave keys behind for their
// TTL only; whichever of them ran before this one, none may be without one.
(redisAvailable() ? it : it.skip)(
  'leaves no key without a TTL on the shared Redis (prefix meridian-test:)',
  async () => {
    const shared = new Redis(process.env.REDIS_URL!);
    try {
      expect(await keysWithoutTtl([shared], 'meridian-test:*')).toEqual([]);
    } finally {
      await shared.quit();
    }
  },
);
