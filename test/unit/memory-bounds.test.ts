import type { ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, test } from '@jest/globals';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import type { EventStore, StoredEvent, StoredStreamMeta } from '../../lib/core/event-store.js';
import { ReplayBuffer } from '../../lib/core/replay-buffer.js';
import { chunkOf, frameOf } from '../../lib/core/sse-frame.js';
import type { StreamClient } from '../../lib/core/stream-client.js';
import type { StreamEvent } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { HIGH_WATER_BYTES, NodeHttpConnection } from '../../lib/http/node-http-connection.js';
import { serveStream } from '../../lib/http/serve-stream.js';
import { responseFlowControl } from '../../lib/nest/stream-flow.interceptor.js';
import { range } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Whether each object is still reachable once a turn has passed (WeakRefs hold through a turn) and garbage is collected. */
async function stillReachable(refs: WeakRef<object>[]): Promise<boolean[]> {
  await nextTurn();
  gc();
  return refs.map((ref) => ref.deref() !== undefined);
}

function event(sequence: number, bytes = 1): StreamEvent {
  return { id: `e-${sequence}`, type: 'message', data: 'x'.repeat(bytes), sequence, epoch: 'e', bytes };
}

/** A store in memory that answers `limit` events and ignores `maxBytes`, as a custom store may. */
function carelessStore() {
  const events: StoredEvent[] = [];
  let meta: StoredStreamMeta | undefined;
  const reads: { after: number; maxBytes: number | undefined }[] = [];
  const store: EventStore = {
    append: async (written, added) => {
      meta = written;
      events.push(...added.map(({ sequence, type, data }) => ({ sequence, type, data })));
    },
    readAfter: async (_id, after, limit, maxBytes) => {
      reads.push({ after, maxBytes });
      return events.filter((stored) => stored.sequence > after).slice(0, limit);
    },
    loadMeta: async () => meta,
  };
  return { store, reads };
}

/** An HTTP response whose client never reads: it takes every write and never drains. */
function stalledResponse() {
  const response = {
    headersSent: true,
    destroyed: false,
    writableEnded: false,
    writableLength: 0,
    get writableNeedDrain() {
      return response.writableLength > 16 * 1024;
    },
    closed: false,
    socket: null,
    write(chunk: Buffer) {
      response.writableLength += chunk.length;
      return !response.writableNeedDrain;
    },
    once: () => response,
    off: () => response,
    destroy: () => void (response.destroyed = true),
  };
  return response;
}

describe('Memory held for events is bounded and released', () => {
  test("an event's frame and its HTTP/1.1 chunk are one allocation, not two copies", () => {
    const big = event(1, 100_000);
    const frame = frameOf(big);
    const chunk = chunkOf(frame);
    expect(chunk.toString()).toBe(`${frame.length.toString(16)}\r\n${frame.toString()}\r\n`);
    expect(chunk.buffer).toBe(frame.buffer);
    expect(chunk.byteLength).toBe(frame.byteLength + frame.length.toString(16).length + 4);
  });

  test('a client that stops reading on the direct path is handed at most the high-water mark plus two events', async () => {
    const stream = new StreamRegistry({ heartbeatMs: 0 }).create();
    const response = stalledResponse();
    const connection = new NodeHttpConnection(response as unknown as ServerResponse);
    serveStream(stream, connection, stream.admit(undefined), { heartbeat: false });
    for (let index = 0; index < 200; index++) stream.send({ data: 'd'.repeat(10_000) });
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let index = 0; index < 200; index++) stream.send({ data: 'd'.repeat(10_000) });
    await nextTurn();
    expect(response.writableLength).toBeGreaterThan(0);
    // Events until the high-water mark is passed, and one more when the response had not yet
    // taken what was held for the end of the turn.
    expect(response.writableLength).toBeLessThanOrEqual(HIGH_WATER_BYTES + 2 * 10_100);
  });

  test('a client that stops reading on the Nest pipeline is handed at most 64 KiB plus one event', async () => {
    const stream = new StreamRegistry({ heartbeatMs: 0 }).create();
    const response = stalledResponse();
    response.writableLength = 20_000;
    let emitted = 0;
    const flowControl = responseFlowControl(response as unknown as ServerResponse);
    stream.observe(undefined, { flowControl, heartbeat: false }).subscribe(() => emitted++);
    for (let index = 0; index < 400; index++) stream.send({ data: 'd'.repeat(10_000) });
    await nextTurn();
    expect(emitted).toBeGreaterThan(0);
    expect(emitted * 10_000).toBeLessThanOrEqual(64 * 1024 + 10_000);
  });

  test('an event dropped from the replay buffer (by its limits or once stored) is released at once', async () => {
    const buffer = new ReplayBuffer({ maxEvents: 3, maxBytes: 1_000_000 });
    // Events larger than a segment: each frame in a segment of its own.
    const appended = range(1, 10).map((sequence) => event(sequence, 40_000));
    const segments = appended.map((one) => {
      buffer.append(one);
      return new WeakRef(frameOf(one).buffer);
    });
    const objects = appended.map((one) => new WeakRef(one));
    appended.length = 0;
    buffer.dropThrough(8);
    expect(buffer.size).toBe(2);
    expect(await stillReachable(segments)).toEqual([...Array(8).fill(false), true, true]);
    // The buffer holds frames, not the objects appended: an event is read back from its frame.
    expect(await stillReachable(objects)).toEqual(Array(10).fill(false));
    expect(buffer.get(9)).toEqual(event(9, 40_000));
  });

  test('events held past the buffer limits while their store write ran leave memory once it is done', async () => {
    const { store } = carelessStore();
    let release: () => void = () => undefined;
    const slow: EventStore = {
      ...store,
      append: async (meta, events) => {
        await new Promise<void>((resolve) => (release = resolve));
        await store.append(meta, events);
      },
    };
    const registry = new StreamRegistry({
      store: slow,
      heartbeatMs: 0,
      persistEveryEvents: 0,
      persistEveryMs: 0,
      bufferMaxBytes: 300_000,
    });
    const stream = registry.create();
    // None of them is stored yet, so none may leave memory: the buffer exceeds its limit.
    for (let index = 0; index < 20; index++) stream.send({ data: 'b'.repeat(100_000) });
    stream.complete();
    expect(stream.buffered.bytes).toBeGreaterThan(1_000_000);
    while (stream.persistedThrough < stream.lastSequence) {
      release();
      await nextTurn();
    }
    expect(stream.buffered.bytes).toBeLessThanOrEqual(300_000);
    await registry.shutdown({ graceMs: 0 });
  });

  test('a catch-up page keeps only historyPageBytes of what a store answers, and each event is let go once delivered', async () => {
    const { store, reads } = carelessStore();
    const registry = new StreamRegistry({
      store,
      heartbeatMs: 0,
      persistEveryEvents: 0,
      persistEveryMs: 0,
      historyPageBytes: 250_000,
    });
    const stream = registry.create();
    for (let index = 0; index < 10; index++) stream.send({ data: 'y'.repeat(100_000) });
    stream.complete();
    await stream.persistAndClear();
    expect(stream.buffered.events).toBe(0);

    const delivered: WeakRef<object>[] = [];
    const sequences: number[] = [];
    let accept = false;
    const sink = {
      write: (written: StreamEvent) => {
        delivered.push(new WeakRef(written));
        sequences.push(written.sequence);
        return accept;
      },
      end: () => undefined,
    };
    const client: StreamClient = stream.attach(sink);
    await nextTurn();
    // Paused after its first event: it holds one page of two events (not the ten the store sent).
    expect(sequences).toEqual([1]);
    expect(reads).toEqual([{ after: 0, maxBytes: 250_000 }]);
    expect(await stillReachable(delivered)).toEqual([false]);

    accept = true;
    client.resume();
    await nextTurn();
    await nextTurn();
    expect(sequences).toEqual(range(1, 11));
    expect(reads.map((read) => read.after)).toEqual([0, 2, 4, 6, 8]);
    await registry.shutdown({ graceMs: 0 });
  });

  test('a client that stops reading mid-catch-up is cut once maxClientBacklogBytes more is sent, and resumes where it was', async () => {
    const { store } = carelessStore();
    const registry = new StreamRegistry({
      store,
      heartbeatMs: 0,
      persistEveryEvents: 0,
      persistEveryMs: 0,
      maxClientBacklogBytes: 50_000,
    });
    const stream = registry.create();
    for (let index = 0; index < 5; index++) stream.send({ data: 'c'.repeat(10_000) });
    await stream.persistAndClear();
    const sequences: number[] = [];
    const ends: string[] = [];
    stream.attach({ write: (written) => (sequences.push(written.sequence), false), end: (why) => ends.push(why) });
    await nextTurn();
    expect(sequences).toEqual([1]);
    for (let index = 0; index < 4; index++) stream.send({ data: 'l'.repeat(10_000) });
    expect(ends).toEqual([]);
    for (let index = 0; index < 2; index++) stream.send({ data: 'l'.repeat(10_000) });
    expect(ends).toEqual(['slow']);
    const resumed: number[] = [];
    stream.attach(
      { write: (written) => (resumed.push(written.sequence), true), end: () => undefined },
      `${stream.epoch}-1`,
    );
    await nextTurn();
    expect(resumed).toEqual(range(2, 11));
    await registry.shutdown({ graceMs: 0 });
  });

  test('a page is never larger than maxClientBacklogBytes, what a client may fall behind', async () => {
    const { store, reads } = carelessStore();
    const registry = new StreamRegistry({ store, heartbeatMs: 0, maxClientBacklogBytes: 100_000 });
    const stream = registry.create();
    stream.send({ data: 'z' });
    stream.complete();
    await stream.persistAndClear();
    stream.attach({ write: () => true, end: () => undefined });
    await nextTurn();
    expect(reads[0]).toEqual({ after: 0, maxBytes: 100_000 });
  });

  test('the in-process bus keeps at most maxBytes of unstored events per stream', async () => {
    const bus = new InProcessStreamBus({ maxBytes: 1_000 });
    await bus.open('s', 'e', { stored: false, lostEvent: { type: 'error', data: '{}' }, retentionMs: 1_000 });
    for (const sequence of range(1, 20)) await bus.append('s', [event(sequence, 100)]);
    expect((await bus.read('s', 0, 100)).map((read) => read.sequence)).toEqual(range(11, 20));
  });

  test('a stream followed from a bus is filled in reads of at most bufferMaxBytes of its largest events', async () => {
    const bus = new InProcessStreamBus();
    const limits: number[] = [];
    const read = bus.read.bind(bus);
    bus.read = (id, after, limit) => {
      limits.push(limit);
      return read(id, after, limit);
    };
    const options = { bus, heartbeatMs: 0, bufferMaxBytes: 4 * 1024 * 1024, maxEventBytes: 1024 * 1024 };
    const producer = new StreamRegistry(options).create();
    await producer.whenShared();
    for (let index = 0; index < 10; index++) producer.send({ data: index });
    const follower = await new StreamRegistry(options).locate(producer.id);
    expect(follower?.lastSequence).toBe(10);
    expect(limits.length).toBeGreaterThan(1);
    expect(Math.max(...limits.slice(1))).toBe(4);
  });
});
