import 'reflect-metadata';
import { describe, expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import { SseStream } from '@nestjs/core/router/sse-stream.js';
import { formatSseMessage, frameOf, HEARTBEAT_FRAME, joinFrames } from '../../lib/core/sse-frame.js';
import type { SseMessage } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { serveStream } from '../../lib/http/serve-stream.js';
import type { SseConnection } from '../../lib/http/sse-connection.js';
import { mulberry32, range } from './helpers.js';

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

/** A connection whose backpressure the test controls; it keeps what was written. */
function fakeConnection() {
  const connection = {
    backedUp: false,
    written: [] as string[],
    waiters: new Set<() => void>(),
    closeListeners: [] as (() => void)[],
    aborts: 0,
    ends: 0,
    open: () => undefined,
    write: (frame: Buffer) => void connection.written.push(frame.toString()),
    isBackedUp: () => connection.backedUp,
    onceWritable(listener: () => void) {
      connection.waiters.add(listener);
      return () => connection.waiters.delete(listener);
    },
    end: () => void connection.ends++,
    abort: () => void connection.aborts++,
    onClose: (listener: () => void) => void connection.closeListeners.push(listener),
    drain() {
      const waiting = [...connection.waiters];
      connection.waiters.clear();
      for (const listener of waiting) listener();
    },
    close() {
      for (const listener of connection.closeListeners.splice(0)) listener();
    },
    get ids(): string[] {
      return connection.written.flatMap((frame) => /^id: (\S+)$/m.exec(frame)?.[1] ?? []);
    },
  };
  return connection satisfies SseConnection;
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

describe('serveStream() writing frames to a connection', () => {
  test('writes the position marker, the replay, then live events, in order', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { retryMs: 1000 });
    for (let i = 1; i <= 3; i++) stream.send({ data: i });
    const connection = fakeConnection();
    serveStream(stream, connection, stream.admit(undefined), noBeat);
    stream.send({ data: 4 });
    expect(connection.ids).toEqual(range(0, 4).map((n) => `${stream.epoch}-${n}`));
    expect(connection.written[0]).toBe(`id: ${stream.epoch}-0\nretry: 1000\n\n`);
    expect(connection.written[1]).toBe(`event: message\nid: ${stream.epoch}-1\ndata: 1\n\n`);
    expect(connection.ends).toBe(0);
  });

  test('ends the connection after the final event; a closed connection detaches the client', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const finished = registry.create();
    finished.send({ data: 'only' });
    finished.complete();
    const done = fakeConnection();
    serveStream(finished, done, finished.admit(undefined), noBeat);
    expect(done.ids).toEqual([1, 2].map((n) => `${finished.epoch}-${n}`));
    expect(done.ends).toBe(1);
    const running = registry.create();
    const live = fakeConnection();
    serveStream(running, live, running.admit(undefined), noBeat);
    running.send({ data: 'live' });
    expect([live.ids, running.clientCount]).toEqual([[`${running.epoch}-1`], 1]);
    live.close();
    expect(running.clientCount).toBe(0);
    expect(registry.stats().clients).toBe(0);
  });

  test('pauses while the connection is backed up and resumes without gap or duplicate', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    const connection = fakeConnection();
    serveStream(stream, connection, stream.admit(undefined), noBeat);
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
    serveStream(stream, connection, stream.admit(undefined), noBeat);
    connection.backedUp = true;
    for (let i = 1; i <= 20; i++) stream.send({ data: 'x'.repeat(100) });
    expect([connection.aborts, connection.ends]).toEqual([1, 0]);
    expect(registry.stats().clients).toBe(0);
  });

  test('writes heartbeats only while not backed up, and none once the connection closed', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 10 });
    const stream = registry.create();
    const connection = fakeConnection();
    connection.backedUp = true;
    serveStream(stream, connection, stream.admit(undefined));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(connection.written).toEqual([]);
    connection.backedUp = false;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(connection.written.filter((frame) => frame === ': heartbeat\n\n').length).toBeGreaterThan(0);
    connection.close();
    const written = connection.written.length;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect([connection.written.length, registry.stats().clients]).toEqual([written, 0]);
  });
});
