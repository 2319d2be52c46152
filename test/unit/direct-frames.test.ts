import 'reflect-metadata';
import { describe, expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import { SseStream } from '@nestjs/core/router/sse-stream.js';
import type { FlowControl } from '../../lib/core/flow-control.js';
import { formatSseMessage, frameOf, HEARTBEAT_FRAME, joinFrames } from '../../lib/core/sse-frame.js';
import type { SseMessage } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { mulberry32, range, record } from './helpers.js';

/** What Nest's own `@Sse()` writes for a message (after the lone line break it sends first). */
function nestFrame(message: SseMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stream = new SseStream();
    stream.pipe(
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk);
          done();
        },
      }),
    );
    stream.writeMessage(message as never, (error) =>
      error ? reject(error) : resolve(Buffer.concat(chunks).toString().slice(1)),
    );
  });
}

/** A connection whose opening and backpressure the test controls; it keeps what was written. */
function fakeConnection() {
  const connection = {
    open: undefined as (() => void) | undefined,
    backedUp: false,
    written: [] as string[],
    waiters: new Set<() => void>(),
    aborts: 0,
    isBackedUp: () => connection.backedUp,
    onceWritable(listener: () => void) {
      connection.waiters.add(listener);
      return () => connection.waiters.delete(listener);
    },
    abort: () => void connection.aborts++,
    frames: {
      whenOpen(listener: () => void) {
        connection.open = listener;
        return () => (connection.open = undefined);
      },
      write: (frame: Buffer) => void connection.written.push(frame.toString()),
    },
    drain() {
      const waiting = [...connection.waiters];
      connection.waiters.clear();
      for (const listener of waiting) listener();
    },
    get ids(): string[] {
      return connection.written.flatMap((frame) => /^id: (\S+)$/m.exec(frame)?.[1] ?? []);
    },
  };
  return connection satisfies FlowControl;
}

const noBeat = { heartbeat: false } as const;

describe('SSE frames', () => {
  test('are byte for byte what Nest writes, for random types, ids, retries, comments and data', async () => {
    const random = mulberry32(20261127);
    const alphabet = ['a', 'Z', ' ', ':', '\n', '\r', '\r\n', 'ü', '🚀', '\u2028', '\u0000', 'data: x', '\uFEFF'];
    const text = (length: number) =>
      Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    for (let i = 0; i < 500; i++) {
      let message = {
        ...(random() < 0.8 ? { type: `t${i}` } : {}),
        // Every message of the engine has an id except heartbeats (Nest would number it).
        id: `e${i}-${i}`,
        ...(random() < 0.2 ? { retry: Math.floor(random() * 5000) } : {}),
        ...(random() < 0.1 ? { comment: text(5) } : {}),
        ...(random() < 0.9 ? { data: text(Math.floor(random() * 20)) } : {}),
      } as SseMessage;
      if (i % 10 === 0) message = { comment: text(5) };
      expect([message, formatSseMessage(message)]).toEqual([message, await nestFrame(message)]);
    }
  });

  test('of an event are made once and shared', () => {
    const stream = new StreamRegistry({ heartbeatMs: 0 }).create();
    const event = stream.send({ data: 'shared' })!;
    expect(frameOf(event)).toBe(frameOf(event));
    expect(HEARTBEAT_FRAME.toString()).toBe(': heartbeat\n\n');
  });

  test('joined once per turn for every client with the same run of frames', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((text) => Buffer.from(text));
    const ab = joinFrames([a, b]);
    expect(ab.toString()).toBe('ab');
    expect(joinFrames([a, b])).toBe(ab);
    expect(joinFrames([a, c]).toString()).toBe('ac');
    expect(joinFrames([a, b, c]).toString()).toBe('abc');
    expect(joinFrames([a])).toBe(a);
    await new Promise((resolve) => setImmediate(resolve));
    expect(joinFrames([a, b])).not.toBe(ab);
  });
});

describe('observe() writing frames directly', () => {
  test('holds what comes before the connection opens, then writes it in order, emitting nothing', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    // With retryMs, so that the position marker (written during attach) is held too.
    const stream = registry.create(undefined, { retryMs: 1000 });
    for (let i = 1; i <= 3; i++) stream.send({ data: i });
    const connection = fakeConnection();
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: connection }));
    expect(connection.written).toEqual([]);
    stream.send({ data: 4 });
    connection.open!();
    stream.send({ data: 5 });
    expect(connection.ids).toEqual(range(0, 5).map((n) => `${stream.epoch}-${n}`));
    expect(connection.written[0]).toBe(`id: ${stream.epoch}-0\nretry: 1000\n\n`);
    expect(connection.written[1]).toBe(`event: message\nid: ${stream.epoch}-1\ndata: 1\n\n`);
    expect(client.messages).toEqual([]);
    expect(client.completed).toBe(false);
  });

  test('a stream that finished before the connection opened completes only once its frames are written', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    stream.send({ data: 'only' });
    stream.complete();
    const connection = fakeConnection();
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: connection }));
    expect(client.completed).toBe(false);
    connection.open!();
    // No position marker without retryMs: the first frame is the first event.
    expect(connection.ids).toEqual([1, 2].map((n) => `${stream.epoch}-${n}`));
    expect(connection.written[0]).toBe(`event: message\nid: ${stream.epoch}-1\ndata: only\n\n`);
    expect(client.completed).toBe(true);
  });

  test('a writer that owns its connection: the Observable completes at once, the client ends the connection', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const finished = registry.create();
    finished.complete();
    const running = registry.create();
    for (const stream of [finished, running]) {
      const connection = fakeConnection();
      const closeListeners: (() => void)[] = [];
      let ends = 0;
      const owned = {
        ...connection,
        frames: {
          ...connection.frames,
          end: () => void ends++,
          onClose: (listener: () => void) => closeListeners.push(listener),
        },
      };
      const client = record(stream.observe(undefined, { ...noBeat, flowControl: owned }));
      expect(client.completed).toBe(true);
      connection.open!();
      if (stream === finished) {
        expect(connection.ids).toEqual([`${stream.epoch}-1`]);
        expect(ends).toBe(1);
        expect(registry.stats().clients).toBe(0);
      } else {
        expect(connection.written).toEqual([]);
        stream.send({ data: 'live' });
        expect(connection.ids).toEqual([`${stream.epoch}-1`]);
        expect(stream.clientCount).toBe(1);
        closeListeners.forEach((listener) => listener());
        expect(stream.clientCount).toBe(0);
      }
    }
  });

  test('pauses while the connection is backed up and resumes without gap or duplicate', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    const connection = fakeConnection();
    record(stream.observe(undefined, { ...noBeat, flowControl: connection }));
    connection.open!();
    connection.backedUp = true;
    for (let i = 1; i <= 10; i++) stream.send({ data: i });
    expect(connection.ids).toEqual([`${stream.epoch}-1`]);
    connection.drain();
    expect(connection.ids).toEqual([1, 2].map((n) => `${stream.epoch}-${n}`));
    connection.backedUp = false;
    connection.drain();
    expect(connection.ids).toEqual(range(1, 10).map((n) => `${stream.epoch}-${n}`));
    expect(connection.written).toHaveLength(10);
  });

  test('a client that stays backed up is cut and its connection aborted', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0, maxClientBacklogBytes: 1000 });
    const stream = registry.create();
    const connection = fakeConnection();
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: connection }));
    connection.open!();
    connection.backedUp = true;
    for (let i = 1; i <= 20; i++) stream.send({ data: 'x'.repeat(100) });
    expect(connection.aborts).toBe(1);
    expect(client.completed).toBe(true);
    expect(registry.stats().clients).toBe(0);
  });

  test('writes heartbeats only while open and not backed up; unsubscribing detaches the client', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 10 });
    const stream = registry.create();
    const connection = fakeConnection();
    const client = record(stream.observe(undefined, { flowControl: connection }));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(connection.written).toEqual([]);
    connection.open!();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(connection.written.filter((frame) => frame === ': heartbeat\n\n').length).toBeGreaterThan(0);
    client.subscription.unsubscribe();
    expect(registry.stats().clients).toBe(0);
    expect(connection.open).toBeUndefined();
  });
});
