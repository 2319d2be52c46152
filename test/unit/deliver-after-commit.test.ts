import { describe, expect, it } from '@jest/globals';
import { InProcessStreamBus, InvalidStreamInputError, StreamRegistry, type StreamEvent } from '../../lib/index.js';
import { SwitchableStore } from '../support/switchable-store.js';
import { eventually } from '../support/eventually.js';
import { range, record, recordingSink } from './helpers.js';

/*
 * durability: 'commit': a client is handed an event only once the store has committed it, so
 * nothing a client saw can be lost in a crash. Writes are grouped (groupCommitMs); a failed
 * commit delivers nothing until its retry succeeds.
 */

/** A sink that checks, at each write, that the store already holds the event. */
function checkingSink(store: SwitchableStore, streamId: () => string) {
  const unstoredSeen: number[] = [];
  const sink = recordingSink((event: StreamEvent) => {
    if (!store.sequences(streamId()).includes(event.sequence)) unstoredSeen.push(event.sequence);
    return true;
  });
  return { sink, unstoredSeen };
}

describe("durability: 'commit'", () => {
  it('never hands a client an event the store does not hold, and writes in groups', async () => {
    const store = new SwitchableStore();
    const registry = new StreamRegistry({ store, heartbeatMs: 0, durability: 'commit' });
    let id = '';
    const early = checkingSink(store, () => id);
    const stream = registry.create(async ({ send }) => {
      for (let burst = 0; burst < 20; burst++) {
        for (let i = 0; i < 10; i++) send({ data: { burst, i } });
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    id = stream.id;
    stream.attach(early.sink);
    const observed = record(stream.observe());
    expect(await stream.whenFinished()).toBe('completed');
    await eventually(() => early.sink.ends.length === 1);
    expect(early.unstoredSeen).toEqual([]);
    expect(early.sink.events.map((event) => event.sequence)).toEqual(range(1, 201));
    expect(early.sink.ends).toEqual(['finished']);
    await eventually(() => observed.completed);
    expect(observed.sequences).toEqual(range(1, 201));
    // Grouped: fewer writes than events.
    expect(store.attempts.length).toBeLessThan(100);
    await registry.shutdown({ graceMs: 0 });
  });

  it('commits a lone event on its own (group commit), without waiting for more or for the end', async () => {
    const store = new SwitchableStore();
    const registry = new StreamRegistry({ store, heartbeatMs: 0, durability: 'commit', groupCommitMs: 1 });
    const stream = registry.create();
    const client = checkingSink(store, () => stream.id);
    stream.attach(client.sink);
    stream.send({ data: 'alone' });
    expect(client.sink.events).toEqual([]);
    await eventually(() => client.sink.events.length === 1);
    expect(client.unstoredSeen).toEqual([]);
    expect(store.attempts).toEqual([{ streamId: stream.id, events: 1, committed: true }]);
    expect(stream.state).toBe('running');
    await registry.shutdown({ graceMs: 0 });
  });

  it('delivers nothing while commits fail, then everything once a retry succeeds', async () => {
    const store = new SwitchableStore();
    const registry = new StreamRegistry({ store, heartbeatMs: 0, durability: 'commit' });
    store.down = true;
    const stream = registry.create();
    const client = checkingSink(store, () => stream.id);
    stream.attach(client.sink);
    const attempts = store.nextAttempts(1);
    for (let i = 0; i < 5; i++) stream.send({ data: i });
    await attempts;
    expect(store.attempts).toEqual([{ streamId: stream.id, events: 5, committed: false }]);
    expect(client.sink.events).toEqual([]);
    // A client that connects now also sees nothing yet (its position is what the store holds).
    const late = record(stream.observe());
    expect(late.events).toEqual([]);

    // The retry (the stream is idle: nothing else writes) commits them, and only then are they delivered.
    store.down = false;
    await eventually(() => client.sink.events.length === 5);
    expect(store.attempts.map((attempt) => attempt.committed)).toEqual([false, true]);
    stream.complete();
    await eventually(() => client.sink.ends.length === 1);
    expect(client.unstoredSeen).toEqual([]);
    expect(client.sink.events.map((event) => event.type)).toEqual([...Array(5).fill('message'), 'done']);
    await eventually(() => late.completed);
    expect(late.sequences).toEqual(range(1, 6));
    await registry.shutdown({ graceMs: 0 });
  });

  it('holds back a follower on another instance until the producer reports the commit', async () => {
    const store = new SwitchableStore();
    const bus = new InProcessStreamBus();
    const producing = new StreamRegistry({ store, bus, heartbeatMs: 0 });
    const following = new StreamRegistry({ store, bus, heartbeatMs: 0 });
    // Given to create(), the option travels with the stream to the follower.
    const stream = producing.create(undefined, { durability: 'commit' });
    await stream.whenShared();
    store.down = true;
    stream.send({ data: 'first' });
    await store.nextAttempts(1);
    const followed = (await following.locate(stream.id))!;
    expect(followed.follower).toBe(true);
    const client = checkingSink(store, () => stream.id);
    followed.attach(client.sink);
    await eventually(() => followed.lastSequence === 1);
    expect(client.sink.events).toEqual([]);
    store.down = false;
    stream.complete();
    await eventually(() => client.sink.ends.length === 1);
    expect(client.unstoredSeen).toEqual([]);
    expect(client.sink.events.map((event) => event.sequence)).toEqual([1, 2]);
    await producing.shutdown({ graceMs: 0 });
    await following.shutdown({ graceMs: 0 });
  });

  it('is refused at create() without a store', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    expect(() => registry.create(undefined, { durability: 'commit' })).toThrow(InvalidStreamInputError);
    expect(() => registry.create(undefined, { durability: 'commit' })).toThrow(/no store is configured/);
  });
});
