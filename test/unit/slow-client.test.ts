import { describe, expect, test } from '@jest/globals';
import type { SseMessage } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { range, recordingSink } from './helpers.js';

const payload = (bytes: number) => ({ data: 'x'.repeat(bytes) });

describe('attach(): backpressure', () => {
  test('write() returning false pauses the client; resume() continues from its cursor', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    let accept = false;
    const sink = recordingSink(() => accept);
    const preamble: SseMessage[] = [];
    const client = stream.attach(sink, undefined, (m) => preamble.push(m));
    // Without retryMs a fresh client gets no preamble at all.
    expect(preamble).toEqual([]);
    stream.send({ data: 1 });
    stream.send({ data: 2 });
    stream.send({ data: 3 });
    expect(sink.events.map((e) => e.sequence)).toEqual([1]);
    expect(client.position).toBe(1);
    accept = true;
    client.resume();
    expect(sink.events.map((e) => e.sequence)).toEqual([1, 2, 3]);
    stream.send({ data: 4 });
    stream.complete();
    expect(sink.events.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(sink.ends).toEqual(['finished']);
    expect(client.isClosed).toBe(true);
    expect(stream.clientCount).toBe(0);
    // With retryMs, attach() hands the position marker to the preamble callback, not to the sink.
    const marked = registry.create(undefined, { retryMs: 2000 });
    const markedSink = recordingSink();
    const markedPreamble: SseMessage[] = [];
    marked.attach(markedSink, undefined, (m) => markedPreamble.push(m));
    expect(markedPreamble).toEqual([{ id: `${marked.epoch}-0`, retry: 2000 }]);
    expect(markedSink.events).toEqual([]);
  });

  test('a paused client of a finished stream stays until it drains, then ends finished', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    for (let i = 1; i <= 3; i++) stream.send({ data: i });
    stream.complete();
    let accept = false;
    const sink = recordingSink(() => accept);
    const client = stream.attach(sink);
    expect(sink.events.map((e) => e.sequence)).toEqual([1]);
    expect(sink.ends).toEqual([]);
    expect(registry.stats().clients).toBe(1);
    accept = true;
    client.resume();
    expect(sink.events.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    expect(sink.ends).toEqual(['finished']);
    expect(registry.stats().clients).toBe(0);
  });

  test('a client backed up one event before the end of a finished stream keeps its final event until it drains', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    for (let i = 1; i <= 3; i++) stream.send({ data: i });
    stream.complete();
    // Its consumer backs up on event 3: only the final event (4) is left.
    const sink = recordingSink((event) => event.sequence !== 3);
    const client = stream.attach(sink);
    expect(sink.events.map((e) => e.sequence)).toEqual([1, 2, 3]);
    expect([sink.ends, client.isClosed, stream.clientCount]).toEqual([[], false, 1]);
    client.resume();
    expect(sink.events.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    expect(sink.events.at(-1)!.type).toBe('done');
    expect(sink.ends).toEqual(['finished']);
    // Live too: backed up on the last event, then the stream finishes.
    const live = registry.create();
    const liveSink = recordingSink((event) => event.sequence !== 2);
    const liveClient = live.attach(liveSink);
    live.send({ data: 1 });
    live.send({ data: 2 });
    live.complete();
    expect([liveSink.events.map((e) => e.sequence), liveSink.ends]).toEqual([[1, 2], []]);
    liveClient.resume();
    expect([liveSink.events.map((e) => e.sequence), liveSink.ends]).toEqual([[1, 2, 3], ['finished']]);
  });

  test('a paused client more than maxClientBacklogBytes behind is cut with slow', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { maxClientBacklogBytes: 100 });
    const sink = recordingSink(() => false);
    stream.attach(sink);
    stream.send(payload(10));
    stream.send(payload(50));
    stream.send(payload(50));
    expect(sink.ends).toEqual([]);
    stream.send(payload(1));
    expect(sink.ends).toEqual(['slow']);
    expect(sink.events.map((e) => e.sequence)).toEqual([1]);
    expect(registry.stats().slowClientDisconnects).toBe(1);
    expect(stream.clientCount).toBe(0);
    stream.send(payload(1));
    expect(sink.events.length).toBe(1);
  });

  test('catch-up from history is not held against a client; live bytes missed while paused are', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { maxClientBacklogBytes: 100 });
    for (let i = 0; i < 5; i++) stream.send(payload(40));
    const sink = recordingSink(() => false);
    stream.attach(sink);
    expect(sink.events.map((e) => e.sequence)).toEqual([1]);
    stream.send(payload(99));
    stream.send(payload(1));
    expect(sink.ends).toEqual([]);
    stream.send(payload(1));
    expect(sink.ends).toEqual(['slow']);
    expect(registry.stats().slowClientDisconnects).toBe(1);
  });

  test('a client that drains one event at a time still cannot fall more than the bound behind live', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { maxClientBacklogBytes: 100 });
    const sink = recordingSink(() => false);
    const client = stream.attach(sink);
    const behindBytes = () =>
      range(client.position + 1, stream.lastSequence).reduce((n, s) => n + stream.eventAt(s)!.bytes, 0);
    const uncutBehind: number[] = [];
    // Each round 60 live bytes arrive (under the bound) while it reads just one 30-byte event.
    for (let round = 0; round < 10 && sink.ends.length === 0; round++) {
      stream.send(payload(30));
      stream.send(payload(30));
      if (sink.ends.length === 0) uncutBehind.push(behindBytes());
      client.resume();
    }
    // 120 bytes behind in round 4 is past the bound of 100: it must be cut there.
    expect({ uncutBehind, ends: sink.ends }).toEqual({ uncutBehind: [30, 60, 90], ends: ['slow'] });
  });

  test('a paused client whose next event is evicted is cut at once, never handed a hole', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { bufferMaxEvents: 3 });
    let accept = true;
    const sink = recordingSink(() => accept);
    const client = stream.attach(sink);
    stream.send({ data: 1 });
    accept = false;
    stream.send({ data: 2 });
    expect(client.position).toBe(2);
    stream.send({ data: 3 });
    stream.send({ data: 4 });
    stream.send({ data: 5 });
    expect(sink.ends).toEqual([]);
    stream.send({ data: 6 });
    expect(stream.buffered.firstSequence).toBe(4);
    expect(sink.ends).toEqual(['slow']);
    expect(sink.events.map((e) => e.sequence)).toEqual([1, 2]);
    expect(registry.stats().slowClientDisconnects).toBe(1);
  });

  test('a paused client at the end of a finished stream drains the final event on resume', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { bufferMaxEvents: 2 });
    let accept = false;
    const sink = recordingSink(() => accept);
    const client = stream.attach(sink);
    stream.send({ data: 1 });
    stream.complete();
    for (let i = 0; i < 3; i++) expect(stream.send({ data: i })).toBeUndefined();
    expect(sink.ends).toEqual([]);
    accept = true;
    client.resume();
    expect(sink.events.map((e) => e.sequence)).toEqual([1, 2]);
    expect(sink.ends).toEqual(['finished']);
  });

  test('with a one-event buffer, a paused client is cut exactly when its next event goes', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { bufferMaxEvents: 1 });
    let accept = false;
    const sink = recordingSink(() => accept);
    const client = stream.attach(sink);
    stream.send({ data: 'a' });
    stream.send({ data: 'b' });
    expect(sink.ends).toEqual([]);
    stream.send({ data: 'c' });
    expect(sink.ends).toEqual(['slow']);
    accept = true;
    client.resume();
    expect(sink.events.map((e) => e.sequence)).toEqual([1]);
    expect(sink.ends).toEqual(['slow']);
  });

  test('reattaching with the last delivered id resumes exactly, or with a reset if it was evicted', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { bufferMaxEvents: 4, maxClientBacklogBytes: 3 });
    const first = recordingSink((e) => e.sequence < 2);
    stream.attach(first);
    for (let i = 1; i <= 6; i++) stream.send({ data: i });
    expect(first.ends).toEqual(['slow']);
    expect(first.events.map((e) => e.sequence)).toEqual([1, 2]);
    const lastId = first.events.at(-1)!.id;
    const second = recordingSink();
    const preamble: SseMessage[] = [];
    stream.attach(second, lastId, (m) => preamble.push(m));
    // Seamless: no reset, and without retryMs no position marker either.
    expect(preamble).toEqual([]);
    expect(second.events.map((e) => e.sequence)).toEqual([3, 4, 5, 6]);
    for (let i = 7; i <= 12; i++) stream.send({ data: i });
    const third = recordingSink();
    const reset: SseMessage[] = [];
    stream.attach(third, lastId, (m) => reset.push(m));
    expect(reset).toEqual([
      {
        id: `${stream.epoch}-8`,
        type: 'reset',
        data: JSON.stringify({ reason: 'history_truncated', lastEventId: lastId, resumesAfter: `${stream.epoch}-8` }),
      },
    ]);
    expect(third.events.map((e) => e.sequence)).toEqual(range(9, 12));
  });

  test('closing a client ends its sink once with the reason and frees its slot', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { maxClientsPerStream: 1 });
    const sink = recordingSink();
    const client = stream.attach(sink);
    client.close('unsubscribed');
    client.close('slow');
    expect(sink.ends).toEqual(['unsubscribed']);
    expect(registry.stats()).toMatchObject({ clients: 0, slowClientDisconnects: 0 });
    stream.send({ data: 'after' });
    expect(sink.events).toEqual([]);
    expect(stream.attach(recordingSink()).isClosed).toBe(false);
  });
});
