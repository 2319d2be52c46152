import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, test } from '@jest/globals';
import { StreamProducerLostError } from '../../lib/core/errors.js';
import type { EventStore, StoredEvent, StoredStreamMeta } from '../../lib/core/event-store.js';
import type { AppendOutcome, BusEvent, StreamBus } from '../../lib/core/stream-bus.js';
import type { StreamEvent } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { within } from '../support/eventually.js';
import { record } from './helpers.js';

/** One append() call the test answers when it wants: accept, refuse with an ending, or reject. */
interface PendingAppend {
  readonly events: BusEvent[];
  resolve(outcome: AppendOutcome): void;
  reject(error: unknown): void;
}

/** A bus whose appends wait for the test; everything else is inert. */
class FakeBus implements StreamBus {
  readonly appends: PendingAppend[] = [];
  readonly closed: string[] = [];
  async open(): Promise<void> {}
  append(_streamId: string, events: readonly BusEvent[]): Promise<AppendOutcome> {
    return new Promise((resolve, reject) => this.appends.push({ events: [...events], resolve, reject }));
  }
  persisted(): void {}
  close(streamId: string): void {
    this.closed.push(streamId);
  }
  async lookup() {
    return undefined;
  }
  async read(): Promise<BusEvent[]> {
    return [];
  }
  follow() {
    return () => undefined;
  }
  async control(): Promise<boolean> {
    return false;
  }
  async shutdown(): Promise<void> {}
  /** The n-th append (1-based), once the stream made it (the registry's claim adds a turn or two). */
  async call(n: number): Promise<PendingAppend> {
    for (let turn = 0; turn < 10 && this.appends.length < n; turn++) await nextTurn();
    expect(this.appends).toHaveLength(n);
    return this.appends[n - 1];
  }
}

/** Keeps whatever the stream writes, checking it arrives consecutively as the store contract says. */
class MemoryStore implements EventStore {
  readonly events: StoredEvent[] = [];
  meta: StoredStreamMeta | undefined;
  async append(meta: StoredStreamMeta, events: readonly StreamEvent[]): Promise<void> {
    for (const { sequence, type, data } of events) {
      expect(sequence).toBe(this.events.length + 1);
      this.events.push({ sequence, type, data });
    }
    this.meta = meta;
  }
  async readAfter(_id: string, after: number, limit: number): Promise<StoredEvent[]> {
    return this.events.filter((event) => event.sequence > after).slice(0, limit);
  }
  async loadMeta(): Promise<StoredStreamMeta | undefined> {
    return this.meta;
  }
}

const accepted: AppendOutcome = { accepted: true };
const shape = (events: readonly { sequence: number; type: string; data: string }[]) =>
  events.map(({ sequence, type, data }) => [sequence, type, data]);

function setup(store?: EventStore) {
  const bus = new FakeBus();
  // With a store, every event taken in is written at once: an event the bus never held would show.
  const registry = new StreamRegistry({ heartbeatMs: 0, bus, store, persistEveryEvents: 1 });
  const stream = registry.create();
  const client = record(stream.observe(undefined, { heartbeat: false }));
  return { bus, registry, stream, client };
}

describe("SharedStream: an event is the stream's only once the bus holds it", () => {
  test('nothing reaches clients, eventAt or lastSequence before the append resolves', async () => {
    const { bus, stream, client } = setup();
    const sent = stream.send({ data: 'a' })!;
    // send() names the event at once (its id is final), but the stream has not taken it in.
    expect(sent.id).toBe(`${stream.epoch}-1`);
    const first = await bus.call(1);
    expect(first.events).toEqual([{ sequence: 1, type: 'message', data: 'a' }]);
    expect(client.events).toEqual([]);
    expect(stream.lastSequence).toBe(0);
    expect(stream.eventAt(1)).toBeUndefined();
    first.resolve(accepted);
    await nextTurn();
    expect(client.events).toEqual([sent]);
    expect(stream.lastSequence).toBe(1);
    expect(stream.eventAt(1)).toBe(sent);
  });

  test('events sent while an append is in flight go, in order, in ONE next append', async () => {
    const { bus, stream, client } = setup();
    stream.send({ data: 0 });
    const first = await bus.call(1);
    const batched = [1, 2, 3].map((i) => stream.send({ type: 'tick', data: { i } })!);
    // Still one call: the rest waits behind the one in flight.
    await nextTurn();
    expect(bus.appends).toHaveLength(1);
    first.resolve(accepted);
    const second = await bus.call(2);
    expect(shape(second.events)).toEqual(shape(batched));
    expect(second.events.some((event) => event.final)).toBe(false);
    // Accepted: event 1 is visible; the batch is not, until its own append resolves.
    expect(client.sequences).toEqual([1]);
    second.resolve(accepted);
    await nextTurn();
    expect(client.sequences).toEqual([1, 2, 3, 4]);
    expect(bus.appends).toHaveLength(2);
  });
});

describe('SharedStream: refused (another instance ended it)', () => {
  /** What the other instance appended after this producer's last accepted event: its lost event. */
  const ending = (sequence: number): BusEvent[] => [
    { sequence, type: 'error', data: '{"status":"failed","reason":"producer_lost","by":"B"}', final: 'failed' },
  ];

  test('aborts the producer with StreamProducerLostError; clients get exactly the ending, then complete', async () => {
    const { bus, stream, client } = setup();
    stream.send({ data: 'kept' });
    (await bus.call(1)).resolve(accepted);
    stream.send({ data: 'refused' });
    const refusedAppend = await bus.call(2);
    stream.send({ data: 'queued behind' });
    refusedAppend.resolve({ accepted: false, ending: ending(2) });
    await within(stream.whenFinished(), 1_000, () => 'the refused stream did not finish');
    expect(stream.signal.aborted).toBe(true);
    expect(stream.signal.reason).toBeInstanceOf(StreamProducerLostError);
    expect(shape(client.events)).toEqual([[1, 'message', 'kept'], ...shape(ending(2))]);
    expect(client.events[1].id).toBe(`${stream.epoch}-2`);
    expect(client.completed).toBe(true);
    expect(stream.state).toBe('failed');
    // Whatever the producer still sends is dropped: nothing after the final event, no more appends.
    expect(stream.send({ data: 'too late' })).toBeUndefined();
    expect(stream.complete()).toBe(false);
    await nextTurn();
    expect(client.sequences).toEqual([1, 2]);
    expect(bus.appends).toHaveLength(2);
  });

  test('the store ends up with exactly the accepted events and the ending', async () => {
    const store = new MemoryStore();
    const { bus, stream } = setup(store);
    stream.send({ data: 'one' });
    (await bus.call(1)).resolve(accepted);
    stream.send({ data: 'two' });
    (await bus.call(2)).resolve(accepted);
    stream.send({ data: 'never accepted' });
    stream.send({ data: 'never sent' });
    (await bus.call(3)).resolve({ accepted: false, ending: ending(3) });
    await stream.whenFinished();
    await stream.persist();
    expect(shape(store.events)).toEqual([[1, 'message', 'one'], [2, 'message', 'two'], ...shape(ending(3))]);
    expect(store.meta).toMatchObject({ status: 'failed', lastSequence: 3 });
  });
});

describe('SharedStream: the end goes through the bus too', () => {
  test('a rejected append fails the stream here, with the final error event', async () => {
    const { bus, stream, client } = setup();
    stream.send({ data: 'x' });
    (await bus.call(1)).reject(new Error('bus broken beyond retry'));
    await within(stream.whenFinished(), 1_000, () => 'the stream did not fail');
    expect(stream.state).toBe('failed');
    expect(stream.signal.aborted).toBe(true);
    // The event the bus never held is withdrawn: the error event is the only one, and final.
    expect(client.events.map((event) => [event.sequence, event.type])).toEqual([[1, 'error']]);
    expect(JSON.parse(client.events[0].data)).toEqual({ status: 'failed', message: 'The stream failed.' });
    expect(client.completed).toBe(true);
    expect(bus.closed).toEqual([stream.id]);
    expect(bus.appends).toHaveLength(1);
  });

  test('complete() during an append: done comes after the in-flight events; settles once accepted', async () => {
    const { bus, stream, client } = setup();
    let finished = false;
    void stream.whenFinished().then(() => (finished = true));
    stream.send({ data: 1 });
    const first = await bus.call(1);
    stream.send({ data: 2 });
    expect(stream.complete()).toBe(true);
    // The producer stops now; nothing more is taken, but the stream has not ended yet.
    expect(stream.signal.aborted).toBe(true);
    expect(stream.send({ data: 'after complete' })).toBeUndefined();
    expect(stream.complete()).toBe(false);
    expect(stream.state).toBe('running');
    first.resolve(accepted);
    const second = await bus.call(2);
    expect(second.events.map((event) => [event.sequence, event.type, event.final])).toEqual([
      [2, 'message', undefined],
      [3, 'done', 'completed'],
    ]);
    await nextTurn();
    expect(stream.state).toBe('running');
    expect(finished).toBe(false);
    expect(client.completed).toBe(false);
    second.resolve(accepted);
    await expect(within(stream.whenFinished(), 1_000, () => 'not finished')).resolves.toBe('completed');
    expect(client.events.map((event) => event.type)).toEqual(['message', 'message', 'done']);
    expect(client.completed).toBe(true);
    expect(bus.closed).toEqual([stream.id]);
  });

  test('cancel() aborts the producer at once; the cancelled event follows once the bus holds it', async () => {
    const { bus, stream, client } = setup();
    stream.send({ data: 1 });
    const first = await bus.call(1);
    expect(stream.cancel('user')).toBe(true);
    expect(stream.signal.aborted).toBe(true);
    expect(stream.state).toBe('running');
    first.resolve(accepted);
    (await bus.call(2)).resolve(accepted);
    await expect(within(stream.whenFinished(), 1_000, () => 'not cancelled')).resolves.toBe('cancelled');
    expect(client.events.map((event) => event.type)).toEqual(['message', 'cancelled']);
    expect(JSON.parse(client.events[1].data)).toEqual({ status: 'cancelled', reason: 'user' });
  });
});

describe('a stream whose bus stops taking events', () => {
  test('fails once more than bufferMaxBytes wait for the bus, instead of queueing without bound', async () => {
    const bus = new FakeBus();
    const registry = new StreamRegistry({ heartbeatMs: 0, bus, bufferMaxBytes: 4_096, logger: silent() });
    const stream = registry.create();
    const taken = Array.from({ length: 1_000 }, () => stream.send({ data: 'x'.repeat(1_000) })).filter(Boolean);
    // The first append is in flight; about bufferMaxBytes wait behind it, then the stream fails.
    expect(taken.length).toBeLessThanOrEqual(6);
    expect(stream.signal.aborted).toBe(true);
    (await bus.call(1)).resolve(accepted);
    const last = await bus.call(2);
    expect(last.events.at(-1)).toMatchObject({ type: 'error', final: 'failed' });
    last.resolve(accepted);
    await expect(stream.whenFinished()).resolves.toBe('failed');
  });
});

function silent() {
  const nothing = () => undefined;
  return { log: nothing, warn: nothing, error: nothing, debug: nothing };
}
