import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, within } from '../support/eventually.js';
import { events, openOptions, recorder, redisTargets, streamId } from './redis-targets.js';

/*
 * RedisStreamBus when Redis connections drop or Redis restarts empty: followers read what Pub/Sub
 * dropped meanwhile, and a producer says again what it holds before anyone may declare it lost.
 */

describe.each(redisTargets())('RedisStreamBus through faults on a private $name', (target) => {
  beforeAll(() => target.start(), 60_000);
  afterAll(() => target.stop());
  afterEach(() => target.closeAll());

  it('a follower whose subscriber connection dropped reads what it missed, once', async () => {
    const producer = target.bus();
    const follower = target.bus();
    const id = streamId();
    await producer.open(id, 'e', openOptions());
    const watcher = recorder();
    follower.follow(id, 0, watcher.follower);
    expect(await producer.append(id, events(1, 5))).toEqual({ accepted: true });
    await eventually(() => watcher.got.length === 5);

    // Cut the follower's subscriber connections, and append at once, while they reconnect: the
    // message is lost, and no later one would reveal the hole.
    await Promise.all(target.nodes().map((node) => node.client('KILL', 'TYPE', 'pubsub')));
    expect(await producer.append(id, events(6, 31, 'completed'))).toEqual({ accepted: true });
    await within(watcher.done, 5_000, () => `the follower stopped at ${watcher.sequences().at(-1)}`);
    expect(watcher.sequences()).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    expect(watcher.gaps).toEqual([]);
  });

  const restartable = target.restart ? it : it.skip;
  restartable(
    'a producer goes on through a Redis restart that lost every key; nobody declares it lost',
    async () => {
      const leaseMs = 600;
      const producer = target.bus({ leaseMs });
      const sweeper = target.bus({ leaseMs });
      const id = streamId();
      await producer.open(id, 'e', openOptions());
      const watcher = recorder();
      sweeper.follow(id, 0, watcher.follower);
      expect(await producer.append(id, events(1, 5))).toEqual({ accepted: true });
      await eventually(() => watcher.got.length === 5);

      await target.restart!();
      // Resolves once Redis is back: the stream is written again from what the producer holds.
      expect(await producer.append(id, events(6, 8))).toEqual({ accepted: true });
      // Several leases later the stream still runs: the producer renewed its lease in time.
      await sleep(4 * leaseMs);
      expect(await target.admin().hget(`test:{${id}}:meta`, 'status')).toBe('running');
      expect(await producer.append(id, events(9, 9, 'completed'))).toEqual({ accepted: true });
      await watcher.done;
      expect(watcher.sequences()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

      // A follower that starts now is told of the hole Redis left, then gets the rest.
      const late = recorder();
      target.bus().follow(id, 0, late.follower);
      await late.done;
      expect(late.gaps).toEqual([[0, 6]]);
      expect(late.sequences()).toEqual([6, 7, 8, 9]);
    },
    20_000,
  );
});
