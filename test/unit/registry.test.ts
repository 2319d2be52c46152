import { afterEach, describe, expect, jest, test } from '@jest/globals';
import {
  InvalidStreamInputError,
  RegistryClosedError,
  StreamAlreadyExistsError,
  StreamLimitError,
  StreamNotFoundError,
} from '../../lib/core/errors.js';
import type { EventStore } from '../../lib/core/event-store.js';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import { DEFAULT_STREAM_OPTIONS } from '../../lib/core/options.js';
import { DEFAULT_MAX_STREAMS, StreamRegistry } from '../../lib/core/stream-registry.js';
import { record, recordingSink } from './helpers.js';

function thrown(fn: () => unknown): Error & { statusCode?: number } {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('did not throw');
}

describe('StreamRegistry: ids and lookup', () => {
  test('generated ids are 22 base64url characters (128 random bits), all different', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const ids = new Set(Array.from({ length: 500 }, () => registry.create().id));
    expect(ids.size).toBe(500);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(DEFAULT_MAX_STREAMS).toBe(10_000);
  });

  test('a given id is used; a duplicate is StreamAlreadyExistsError (409)', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { id: 'job_42-A' });
    expect(stream.id).toBe('job_42-A');
    const error = thrown(() => registry.create(undefined, { id: 'job_42-A' }));
    expect(error).toBeInstanceOf(StreamAlreadyExistsError);
    expect(error.statusCode).toBe(409);
    expect(registry.get('job_42-A')).toBe(stream);
    expect(registry.stats().streamsCreated).toBe(1);
  });

  test.each([[''], ['has space'], ['slash/'], ['dot.'], ['é'], ['a'.repeat(129)], ['new\nline']])(
    'id %j is rejected with InvalidStreamInputError',
    (id) => {
      const registry = new StreamRegistry({ heartbeatMs: 0 });
      expect(thrown(() => registry.create(undefined, { id }))).toBeInstanceOf(InvalidStreamInputError);
      expect(registry.stats().streams).toBe(0);
    },
  );

  test('get / has / require / cancel / remove', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { id: 'a'.repeat(128) });
    expect(registry.has(stream.id)).toBe(true);
    expect(registry.require(stream.id)).toBe(stream);
    expect(registry.get('nope')).toBeUndefined();
    expect(registry.has('nope')).toBe(false);
    for (const fn of [() => registry.require('nope'), () => registry.observe('nope')]) {
      const error = thrown(fn);
      expect(error).toBeInstanceOf(StreamNotFoundError);
      expect(error.statusCode).toBe(404);
    }
    await expect(registry.cancel('nope')).rejects.toMatchObject({ statusCode: 404, code: 'STREAM_NOT_FOUND' });
    const client = record(registry.observe(stream.id, undefined, { heartbeat: false }));
    expect(registry.remove(stream.id)).toBe(true);
    expect(stream.state).toBe('cancelled');
    expect(stream.eventAt(1)!.data).toBe('{"status":"cancelled","reason":"removed"}');
    expect(client.completed).toBe(true);
    expect(registry.has(stream.id)).toBe(false);
    expect(registry.remove(stream.id)).toBe(false);
  });

  test('observe() of a stream not in memory, with a bus or a store, warns once that the route needs StreamGuard', () => {
    const warnings: string[] = [];
    const logger = { log() {}, error() {}, warn: (message: string) => warnings.push(message) };
    const alone = new StreamRegistry({ heartbeatMs: 0, logger });
    expect(thrown(() => alone.observe('nope'))).toBeInstanceOf(StreamNotFoundError);
    // Without a store or a bus, memory is all there is: nothing to warn about.
    expect(warnings).toEqual([]);
    const shared = new StreamRegistry({ heartbeatMs: 0, logger, bus: new InProcessStreamBus() });
    for (const id of ['nope', 'other\nline']) {
      const error = thrown(() => shared.observe(id));
      expect(error).toBeInstanceOf(StreamNotFoundError);
      expect(error.statusCode).toBe(404);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('observe("nope")');
    expect(warnings[0]).toMatch(/@UseGuards\(StreamGuard\).*registry\.locate\(id\)/);
  });

  test('per-stream options override registry defaults, which override the library defaults', () => {
    const registry = new StreamRegistry({
      heartbeatMs: 0,
      bufferMaxEvents: 5,
      retryMs: 100,
      eventTypes: { done: 'end' },
    });
    const a = registry.create();
    expect(a.options).toMatchObject({
      bufferMaxEvents: 5,
      retryMs: 100,
      bufferMaxBytes: DEFAULT_STREAM_OPTIONS.bufferMaxBytes,
    });
    const b = registry.create(undefined, { bufferMaxEvents: 2, eventTypes: { error: 'oops' } });
    expect(b.options.bufferMaxEvents).toBe(2);
    expect(b.options.retryMs).toBe(100);
    expect(b.options.eventTypes).toEqual({
      message: 'message',
      done: 'end',
      error: 'oops',
      cancelled: 'cancelled',
      reset: 'reset',
    });
    expect(a.options.eventTypes.error).toBe('error');
  });

  test.each([
    [{ bufferMaxEvents: -1 }],
    [{ retentionMs: 1.5 }],
    [{ heartbeatMs: Number.NaN }],
    [{ retryMs: -5 }],
    [{ maxStreams: 0 }],
  ])('invalid option %j is rejected at construction', (options) => {
    expect(thrown(() => new StreamRegistry(options))).toBeInstanceOf(InvalidStreamInputError);
  });
});

describe('StreamRegistry: limits and stats', () => {
  test('maxStreams counts running and retained streams; StreamLimitError (503)', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0, maxStreams: 2 });
    const a = registry.create();
    registry.create().complete();
    const error = thrown(() => registry.create()) as StreamLimitError;
    expect(error).toBeInstanceOf(StreamLimitError);
    expect(error.statusCode).toBe(503);
    expect(error.limit).toBe('maxStreams');
    registry.remove(a.id);
    expect(registry.create().state).toBe('running');
  });

  test('maxClientsPerStream applies to observe() and attach()', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0, maxClientsPerStream: 1 });
    const stream = registry.create();
    stream.attach(recordingSink());
    expect(thrown(() => registry.observe(stream.id))).toBeInstanceOf(StreamLimitError);
    expect((thrown(() => stream.attach(recordingSink())) as StreamLimitError).limit).toBe('maxClientsPerStream');
    const roomy = registry.create(undefined, { maxClientsPerStream: 3 });
    for (let i = 0; i < 3; i++) roomy.attach(recordingSink());
    expect(registry.stats().clients).toBe(4);
  });

  test('stats() reports streams by state, clients and buffered events/bytes', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const running = registry.create();
    running.send({ data: 'abc' });
    const done = registry.create();
    done.complete();
    const failed = registry.create();
    failed.fail(new Error('x'));
    const client = record(registry.observe(running.id, undefined, { heartbeat: false }));
    expect(registry.stats()).toEqual({
      streams: 3,
      byState: { pending: 0, running: 1, completed: 1, failed: 1, cancelled: 0 },
      clients: 1,
      bufferedEvents: 3,
      // Bytes held: each event's frame (its data and its lines) chunked, and its index.
      bufferedBytes: running.buffered.bytes + done.buffered.bytes + failed.buffered.bytes,
      streamsCreated: 3,
      slowClientDisconnects: 0,
      eventsTotal: 3,
      bytesTotal: 3 + 22 + '{"status":"failed","message":"The stream failed."}'.length,
      // Rates are covered in stream-metrics.test.ts (they depend on the clock).
      eventsPerSecond: expect.any(Number),
      bytesPerSecond: expect.any(Number),
      clientsAttached: 1,
      catchup: { live: 0, buffer: 1, store: 0, reset: 0 },
      located: { store: 0, bus: 0 },
      unstoredBytes: 0,
      resumes: { fresh: 1, memory: 0, store: 0, bus: 0, reset: 0, fully_delivered: 0 },
      clientEventsSent: 1,
      clientBytesSent: 3,
      unstoredEvents: 0,
    });
    expect(registry.stats().bufferedBytes).toBeGreaterThan(registry.stats().bytesTotal + 3 * 20);
    client.subscription.unsubscribe();
    expect(registry.stats().clients).toBe(0);
  });
});

describe('StreamRegistry: retention', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('a finished stream is kept retentionMs, then removed', () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0, retentionMs: 1000 });
    const stream = registry.create(undefined, { retentionMs: 5000 });
    const other = registry.create();
    jest.advanceTimersByTime(10_000);
    expect(registry.has(stream.id)).toBe(true);
    stream.complete();
    other.cancel();
    jest.advanceTimersByTime(999);
    expect(registry.has(other.id)).toBe(true);
    jest.advanceTimersByTime(1);
    expect(registry.has(other.id)).toBe(false);
    jest.advanceTimersByTime(3999);
    expect(record(registry.observe(stream.id, undefined, { heartbeat: false })).sequences).toEqual([1]);
    jest.advanceTimersByTime(1);
    expect(registry.has(stream.id)).toBe(false);
    expect(thrown(() => registry.require(stream.id))).toBeInstanceOf(StreamNotFoundError);
    expect(registry.stats().streams).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a finished stream outlives its retention while a client still catches up, and goes once it stalls', () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0, retentionMs: 1000 });
    const stream = registry.create();
    for (let i = 0; i < 10; i++) stream.send({ data: `event ${i}` });
    stream.complete();
    // A client whose connection takes one event per drain, reading slowly.
    const sink = recordingSink(() => false);
    const client = stream.attach(sink);
    expect(sink.events).toHaveLength(1);
    for (let second = 0; second < 8; second++) {
      jest.advanceTimersByTime(1000);
      expect(registry.has(stream.id)).toBe(true);
      client.resume();
    }
    // It moved in every check: it was kept for 9 s, although the retention is 1 s.
    expect(sink.events.map((event) => event.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sink.ends).toEqual([]);
    // It stops reading: one more check sees it standing still, the next one removes the stream.
    jest.advanceTimersByTime(1000);
    expect(registry.has(stream.id)).toBe(true);
    jest.advanceTimersByTime(1000);
    expect(registry.has(stream.id)).toBe(false);
    expect(sink.ends).toEqual(['unsubscribed']);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a client that finishes during the extra time lets the stream go at the next check', () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0, retentionMs: 1000 });
    const stream = registry.create();
    stream.send({ data: 'one' });
    stream.send({ data: 'two' });
    stream.complete();
    const sink = recordingSink(() => false);
    const client = stream.attach(sink);
    jest.advanceTimersByTime(1000);
    expect(registry.has(stream.id)).toBe(true);
    client.resume();
    client.resume();
    expect(sink.ends).toEqual(['finished']);
    jest.advanceTimersByTime(1000);
    expect(registry.has(stream.id)).toBe(false);
  });

  test('remove() of a finished stream clears its retention timer; a new stream may reuse the id', () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0, retentionMs: 1000 });
    registry.create(undefined, { id: 'same' }).complete();
    expect(jest.getTimerCount()).toBe(1);
    registry.remove('same');
    expect(jest.getTimerCount()).toBe(0);
    const again = registry.create(undefined, { id: 'same' });
    jest.advanceTimersByTime(5000);
    expect(registry.get('same')).toBe(again);
  });

  test('the retention timer does not keep the process alive', () => {
    const spy = jest.spyOn(globalThis, 'setTimeout');
    try {
      const registry = new StreamRegistry({ heartbeatMs: 0, retentionMs: 60_000 });
      const stream = registry.create();
      const before = spy.mock.results.length;
      stream.complete();
      expect(spy.mock.results.length).toBe(before + 1);
      expect((spy.mock.results.at(-1)!.value as NodeJS.Timeout).hasRef()).toBe(false);
      registry.remove(stream.id);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('StreamRegistry: shutdown', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  /** Whether `promise` has settled yet. */
  function settled(promise: Promise<unknown>): () => boolean {
    let done = false;
    void promise.finally(() => (done = true));
    return () => done;
  }

  test('cancels running streams with reason shutdown, waits for clients, then cuts the rest', async () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const running = registry.create();
    const finished = registry.create();
    finished.complete();
    const live = record(registry.observe(running.id, undefined, { heartbeat: false }));
    const paused = recordingSink(() => false);
    running.attach(paused);
    running.send({ data: 'x' });
    const closing = registry.shutdown({ graceMs: 60 });
    const returned = settled(closing);
    // The paused client is waited for through the grace period (the clock is the test's)...
    await jest.advanceTimersByTimeAsync(55);
    expect([returned(), paused.ends]).toEqual([false, []]);
    // ...and cut when it is over.
    await jest.advanceTimersByTimeAsync(15);
    expect(returned()).toBe(true);
    await closing;
    expect(running.state).toBe('cancelled');
    expect(running.eventAt(2)!.data).toBe('{"status":"cancelled","reason":"shutdown"}');
    expect(finished.state).toBe('completed');
    expect(live.sequences).toEqual([1, 2]);
    expect(live.completed).toBe(true);
    expect(paused.events.map((e) => e.sequence)).toEqual([1]);
    expect(paused.ends).toEqual(['shutdown']);
    expect(registry.stats().clients).toBe(0);
    const error = thrown(() => registry.create());
    expect(error).toBeInstanceOf(RegistryClosedError);
    expect(error.statusCode).toBe(503);
    await registry.shutdown({ graceMs: 1000 });
  });

  test('returns as soon as every client has left', async () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    const live = record(stream.observe(undefined, { heartbeat: false }));
    // A client backed up on the first event: it has the final event still to read.
    const paused = recordingSink(() => false);
    const slow = stream.attach(paused);
    stream.send({ data: 'x' });
    const closing = registry.shutdown({ graceMs: 5000 });
    const returned = settled(closing);
    await jest.advanceTimersByTimeAsync(100);
    expect([live.completed, returned(), paused.ends]).toEqual([true, false, []]);
    // It reads the rest and leaves: shutdown returns at its next look, long before the 5 s.
    slow.resume();
    expect(paused.ends).toEqual(['finished']);
    await jest.advanceTimersByTimeAsync(20);
    expect(returned()).toBe(true);
    await closing;
    expect(stream.state).toBe('cancelled');
  });

  test('writes what the store does not have yet before it returns, with or without persistOnFinish', async () => {
    const stored = new Map<string, number[]>();
    const store: EventStore = {
      // A write that takes a while, as over a network.
      append: async (meta, events) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        stored.set(meta.streamId, [...(stored.get(meta.streamId) ?? []), ...events.map((event) => event.sequence)]);
      },
      readAfter: () => Promise.resolve([]),
      loadMeta: () => Promise.resolve(undefined),
    };
    for (const persistOnFinish of [true, false]) {
      stored.clear();
      const manual = { heartbeatMs: 0, store, persistEveryEvents: 0, persistEveryMs: 0, persistOnFinish };
      const registry = new StreamRegistry(manual);
      const running = registry.create();
      const finished = registry.create();
      for (let i = 0; i < 3; i++) running.send({ data: i });
      finished.send({ data: 'only' });
      finished.complete();
      await registry.shutdown({ graceMs: 5000 });
      // The running stream's three events and its final cancelled event; the finished one whole.
      expect({ persistOnFinish, running: stored.get(running.id), finished: stored.get(finished.id) }).toEqual({
        persistOnFinish,
        running: [1, 2, 3, 4],
        finished: [1, 2],
      });
    }
  });

  test('a closed registry accepts no new clients either', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    await registry.shutdown({ graceMs: 0 });
    expect(thrown(() => registry.observe(stream.id))).toBeInstanceOf(RegistryClosedError);
  });
});
