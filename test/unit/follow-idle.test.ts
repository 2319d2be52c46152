import { afterEach, describe, expect, test } from '@jest/globals';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import type { BusFollower, StreamBus } from '../../lib/core/stream-bus.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { eventually } from '../support/eventually.js';
import { range, record } from './helpers.js';

const IDLE_MS = 100;

/** B's view of the shared bus, counting its follows still open (a dropped follower must stop its own). */
function countingFollows(inner: StreamBus) {
  const counter = { open: 0 };
  const bus: StreamBus = Object.create(inner) as StreamBus;
  bus.follow = (streamId: string, after: number, follower: BusFollower) => {
    const stop = inner.follow(streamId, after, follower);
    counter.open++;
    let stopped = false;
    return () => {
      if (!stopped) counter.open--;
      stopped = true;
      stop();
    };
  };
  return { bus, counter };
}

let registries: StreamRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
  registries = [];
});

function twoInstances() {
  const shared = new InProcessStreamBus();
  const { bus, counter } = countingFollows(shared);
  const a = new StreamRegistry({ heartbeatMs: 0, bus: shared, followIdleMs: IDLE_MS });
  const b = new StreamRegistry({ heartbeatMs: 0, bus, followIdleMs: IDLE_MS });
  registries.push(a, b);
  return { a, b, follows: counter };
}

/** Waits until B let go of the stream; returns how long that took from `since`. */
async function droppedBy(registry: StreamRegistry, id: string, since: number): Promise<number> {
  await eventually(() => !registry.has(id), IDLE_MS * 10);
  return Date.now() - since;
}

describe('followIdleMs: a follower no client reads is let go', () => {
  test('B drops the stream about followIdleMs after its last client left; A goes on; a client returns without a gap', async () => {
    const { a, b, follows } = twoInstances();
    const produced = a.create();
    await produced.whenShared();
    const sent = range(1, 5).map((i) => produced.send({ data: i })!);
    const onA = record(produced.observe(undefined, { heartbeat: false }));
    const followed = (await b.locate(produced.id))!;
    const onB = record(followed.observe(undefined, { heartbeat: false }));
    // Kept well past followIdleMs while a client reads it.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 2));
    expect(b.get(produced.id)).toBe(followed);
    await eventually(() => onB.events.length === 5, 1_000);
    onB.subscription.unsubscribe();
    const left = Date.now();
    expect(follows.open).toBe(1);

    const took = await droppedBy(b, produced.id, left);
    expect(took).toBeLessThan(IDLE_MS * 5);
    expect(follows.open).toBe(0);
    // Only B's copy went: the stream still runs on A, its client there still reads it.
    expect(produced.state).toBe('running');
    const more = range(6, 8).map((i) => produced.send({ data: i })!);
    await eventually(() => onA.events.length === 8, 1_000);

    // The client comes back to B with the last id it had: B follows again, from there, whole.
    const lastSeen = onB.events.at(-1)!.id;
    expect(lastSeen).toBe(sent[4].id);
    const again = (await b.locate(produced.id, lastSeen))!;
    expect(again).not.toBe(followed);
    expect(again.follower).toBe(true);
    const back = record(again.observe(lastSeen, { heartbeat: false }));
    produced.send({ data: 9 });
    produced.complete();
    await eventually(() => back.completed, 1_000);
    expect(back.sequences).toEqual(range(6, 10));
    expect(back.events.slice(0, 3).map((e) => e.id)).toEqual(more.map((e) => e.id));
    expect(back.events.map((e) => [e.id, e.data])).toEqual(onA.events.slice(5).map((e) => [e.id, e.data]));
  });

  test('a follower located with no client at all is dropped after followIdleMs', async () => {
    const { a, b, follows } = twoInstances();
    const produced = a.create();
    produced.send({ data: 'x' });
    await produced.whenShared();
    const before = Date.now();
    expect((await b.locate(produced.id))?.follower).toBe(true);
    expect(b.has(produced.id)).toBe(true);
    const took = await droppedBy(b, produced.id, before);
    // Timers may fire a millisecond early by Date.now()'s rounding.
    expect(took).toBeGreaterThanOrEqual(IDLE_MS - 2);
    expect(took).toBeLessThan(IDLE_MS * 5);
    expect(follows.open).toBe(0);
    expect(produced.state).toBe('running');
  });

  test('a finished follower is kept for its retention, not dropped as idle', async () => {
    const { a, b } = twoInstances();
    const produced = a.create();
    produced.send({ data: 'x' });
    produced.complete();
    await produced.whenFinished();
    const followed = (await b.locate(produced.id))!;
    expect(followed.state).toBe('completed');
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3));
    expect(b.get(produced.id)).toBe(followed);
  });
});
