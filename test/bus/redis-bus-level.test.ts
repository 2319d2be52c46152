import { setTimeout as sleep } from 'node:timers/promises';
// Not exported by the package index yet (lib/index.ts is the core's to change).
import type { ControlMessage } from '../../lib/core/stream-bus.js';
import { eventually } from '../support/eventually.js';
import {
  clientCommands,
  connectionsOf,
  events,
  lostEvent,
  openOptions,
  pauseLease,
  recorder,
  redisTargets,
  streamId,
} from './redis-targets.js';

/*
 * RedisStreamBus on its own (no registry): fencing, idempotent appends, control messages, and
 * what it costs Redis (connections, idle commands), on a private redis-server and on a private
 * 3-master Redis Cluster.
 */

describe.each(redisTargets())('RedisStreamBus on a private $name', (target) => {
  beforeAll(() => target.start(), 60_000);
  afterAll(() => target.stop());
  afterEach(() => target.closeAll());

  const entries = async (id: string) =>
    (await target.admin().xrange(`test:{${id}}:events`, '-', '+')).map(([entry, fields]) => `${entry} ${fields[1]}`);

  it('fences a producer whose lease ran out: it is told the final event, and appends nothing after it', async () => {
    const leaseMs = 600;
    const producer = target.bus({ leaseMs });
    const sweeper = target.bus({ leaseMs });
    const id = streamId();
    await producer.open(id, 'e1', openOptions());
    expect(await producer.append(id, events(1, 3))).toEqual({ accepted: true });
    const watcher = recorder();
    sweeper.follow(id, 0, watcher.follower);

    pauseLease(producer);
    // The sweeper ends the stream once the producer's lease ran out (0.6 s, then two looks).
    await watcher.done;
    expect(watcher.sequences()).toEqual([1, 2, 3, 4]);
    expect(watcher.got.at(-1)).toMatchObject({ type: 'error', final: 'failed', data: lostEvent.data });

    // The producer wakes up: refused, and told exactly what every other instance got.
    const outcome = await producer.append(id, events(4, 6));
    expect(outcome).toEqual({
      accepted: false,
      ending: [{ sequence: 4, type: 'error', data: lostEvent.data, final: 'failed' }],
    });
    expect(await producer.append(id, events(7, 7, 'completed'))).toMatchObject({ accepted: false });
    expect(await entries(id)).toEqual(['1-0 message', '2-0 message', '3-0 message', '4-0 error']);
    expect(await target.admin().hget(`test:{${id}}:meta`, 'status')).toBe('failed');
  });

  it('accepts a retried append once: events Redis holds already are skipped, none twice', async () => {
    const producer = target.bus();
    const id = streamId();
    await producer.open(id, 'e1', openOptions());
    const watcher = recorder();
    target.bus().follow(id, 0, watcher.follower);
    expect(await producer.append(id, events(1, 3))).toEqual({ accepted: true });
    // The reply to [2, 3, 4] was lost: the retry resends them all.
    expect(await producer.append(id, events(2, 4))).toEqual({ accepted: true });
    expect(await producer.append(id, events(2, 4))).toEqual({ accepted: true });
    expect(await producer.append(id, events(5, 5, 'completed'))).toEqual({ accepted: true });
    await watcher.done;
    expect(watcher.sequences()).toEqual([1, 2, 3, 4, 5]);
    expect(await entries(id)).toHaveLength(5);
  });

  it('refuses an id another epoch holds, and lets the owner open its own again', async () => {
    const a = target.bus();
    const b = target.bus();
    const id = streamId();
    await a.open(id, 'e1', openOptions());
    await expect(b.open(id, 'e2', openOptions())).rejects.toMatchObject({ status: 409 });
    await a.open(id, 'e1', openOptions());
    expect(await a.append(id, events(1, 1))).toEqual({ accepted: true });
  });

  it('carries control messages to the producing instance; false when nobody produces the stream', async () => {
    const producer = target.bus();
    const other = target.bus();
    const id = streamId();
    const received: ControlMessage[] = [];
    await producer.open(id, 'e1', openOptions({ onControl: (message) => received.push(message) }));
    expect(await other.control(id, { type: 'cancel', reason: 'user' })).toBe(true);
    // A malformed message is ignored (and does not stop the channel).
    await target.admin().spublish(`test:{${id}}:control`, 'not json');
    expect(await other.control(id, { type: 'interject', data: { text: 'hi' } })).toBe(true);
    await eventually(() => received.length === 2);
    expect(received).toEqual([
      { type: 'cancel', reason: 'user' },
      { type: 'interject', data: { text: 'hi' } },
    ]);
    expect(await other.control(streamId(), { type: 'cancel' })).toBe(false);
    producer.close(id, 1_000);
    await eventually(async () => !(await other.control(id, { type: 'cancel' })));
    expect(received).toHaveLength(2);
  });

  it('follows 1,000 streams on at most 4 connections per bus (plus one per master on a Cluster)', async () => {
    const a = target.bus();
    const b = target.bus();
    const ids = Array.from({ length: 1_000 }, (_, i) => streamId(`many${i}`));
    await Promise.all(ids.map((id) => a.open(id, 'e', openOptions())));
    const watchers = ids.map((id) => {
      const watcher = recorder();
      b.follow(id, 0, watcher.follower);
      return watcher;
    });
    await Promise.all(ids.map((id) => a.append(id, events(1, 2, 'completed'))));
    await Promise.all(watchers.map((watcher) => watcher.done));
    const budget = target.name === 'cluster' ? 4 + target.masters : 4;
    for (const bus of [a, b]) expect(await connectionsOf(target, bus)).toBeLessThanOrEqual(budget);
    expect(watchers.every((watcher) => watcher.sequences().join() === '1,2')).toBe(true);
  }, 60_000);

  it('costs no command per idle followed stream, and about one per append', async () => {
    // A prefix of its own: no instance of the other cases to sweep.
    const options = { leaseMs: 3_000, keyPrefix: 'idle:' };
    const a = target.bus(options);
    const b = target.bus(options);
    const ids = Array.from({ length: 200 }, (_, i) => streamId(`idle${i}`));
    await Promise.all(ids.map((id) => a.open(id, 'e', openOptions())));
    const watchers = ids.map((id) => {
      const watcher = recorder();
      b.follow(id, 0, watcher.follower);
      return watcher;
    });
    await Promise.all(ids.map((id) => a.append(id, events(1, 1))));
    await eventually(() => watchers.every((watcher) => watcher.got.length === 1));

    const idle = await clientCommands(target, () => sleep(3_000));
    // Each bus renews its lease every second: 3 s is 3 or 4 script calls each; nothing per stream.
    expect(idle.length).toBeLessThanOrEqual(2 * 4);
    expect(new Set(idle)).toEqual(new Set(['evalsha']));

    const appended = await clientCommands(target, async () => {
      for (let sequence = 2; sequence <= 21; sequence++) {
        await Promise.all(ids.map((id) => a.append(id, events(sequence, sequence))));
      }
      await eventually(() => watchers.every((watcher) => watcher.got.length === 21));
    });
    // One script call per append; the followers send nothing (the lease adds a few calls).
    expect(appended.length / (20 * ids.length)).toBeLessThan(1.02);
  }, 30_000);
});
