import { describe, expect, test } from '@jest/globals';
import { ReplayBuffer } from '../../lib/core/replay-buffer.js';
import { formatSseMessage } from '../../lib/core/sse-frame.js';
import type { StreamEvent } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { range, record } from './helpers.js';

function event(sequence: number, bytes = 1): StreamEvent {
  return { id: `e-${sequence}`, type: 'message', data: 'x'.repeat(bytes), sequence, epoch: 'e', bytes };
}

/** Bytes the buffer holds for an event: its frame chunked (`<hex size>CRLF<frame>CRLF`), and 20 bytes of index. */
function held(...events: StreamEvent[]): number {
  let bytes = 0;
  for (const one of events) {
    const length = Buffer.byteLength(formatSseMessage(one));
    bytes += length.toString(16).length + 2 + length + 2 + 20;
  }
  return bytes;
}

function filled(limits: { maxEvents: number; maxBytes: number }, count: number, bytes = 1): ReplayBuffer {
  const buffer = new ReplayBuffer(limits);
  for (let sequence = 1; sequence <= count; sequence++) buffer.append(event(sequence, bytes));
  return buffer;
}

describe('ReplayBuffer', () => {
  test('an empty buffer: size 0, next sequence 1, nothing to get', () => {
    const buffer = new ReplayBuffer({ maxEvents: 5, maxBytes: 100 });
    expect([buffer.size, buffer.bytes, buffer.firstSequence, buffer.lastSequence]).toEqual([0, 0, 1, 0]);
    expect(buffer.get(0)).toBeUndefined();
    expect(buffer.get(1)).toBeUndefined();
  });

  test('keeps at most maxEvents, dropping the oldest', () => {
    const buffer = filled({ maxEvents: 3, maxBytes: 1000 }, 10, 2);
    const bytes = held(event(8, 2), event(9, 2), event(10, 2));
    expect([buffer.size, buffer.bytes, buffer.firstSequence, buffer.lastSequence]).toEqual([3, bytes, 8, 10]);
    expect(range(1, 11).map((s) => buffer.get(s)?.sequence)).toEqual([
      ...Array(7).fill(undefined),
      8,
      9,
      10,
      undefined,
    ]);
  });

  test('keeps at most maxBytes, dropping the oldest, but always the newest event', () => {
    const unit = held(event(1, 3));
    const buffer = filled({ maxEvents: 100, maxBytes: 3 * unit + 2 }, 6, 3);
    expect([buffer.size, buffer.bytes, buffer.firstSequence]).toEqual([3, 3 * unit, 4]);
    buffer.append(event(7, 200));
    expect([buffer.size, buffer.bytes, buffer.firstSequence, buffer.lastSequence]).toEqual([
      1,
      held(event(7, 200)),
      7,
      7,
    ]);
    expect(buffer.get(7)!.bytes).toBe(200);
    buffer.append(event(8, 1));
    expect([buffer.size, buffer.bytes, buffer.firstSequence]).toEqual([1, held(event(8, 1)), 8]);
  });

  test('exactly at the limits nothing is dropped', () => {
    const buffer = filled({ maxEvents: 4, maxBytes: 4 * held(event(1, 2)) }, 4, 2);
    expect([buffer.size, buffer.bytes, buffer.firstSequence]).toEqual([4, 4 * held(event(1, 2)), 1]);
  });

  test('rejects an event whose sequence does not follow the last one', () => {
    const buffer = filled({ maxEvents: 5, maxBytes: 1000 }, 2);
    expect(() => buffer.append(event(2))).toThrow('ReplayBuffer: sequence 2 does not follow 2');
    expect(() => buffer.append(event(4))).toThrow('ReplayBuffer: sequence 4 does not follow 2');
    expect(buffer.size).toBe(2);
  });

  test('lookup by sequence is exact across compaction of the dropped prefix', () => {
    const buffer = filled({ maxEvents: 1500, maxBytes: 1 << 30 }, 10_000);
    expect([buffer.size, buffer.firstSequence, buffer.lastSequence]).toEqual([1500, 8501, 10_000]);
    for (const sequence of [8501, 8502, 9000, 9999, 10_000]) expect(buffer.get(sequence)!.sequence).toBe(sequence);
    for (const sequence of [0, -1, 1, 8500, 10_001, 8501.5, Number.NaN]) expect(buffer.get(sequence)).toBeUndefined();
    expect([8499, 8500, 8501, 9999, 10_000, 10_001].map((s) => buffer.endOffset(s))).toEqual([
      undefined,
      8500,
      8501,
      9999,
      10_000,
      undefined,
    ]);
  });

  test('slice(from, to): the held events from `from` through `to`, both included, clipped to what is held', () => {
    const buffer = filled({ maxEvents: 5, maxBytes: 1000 }, 8);
    expect([buffer.firstSequence, buffer.lastSequence]).toEqual([4, 8]);
    const slice = (from: number, to: number) => buffer.slice(from, to).map((event) => event.sequence);
    expect(slice(4, 8)).toEqual([4, 5, 6, 7, 8]);
    expect(slice(5, 7)).toEqual([5, 6, 7]);
    expect(slice(6, 6)).toEqual([6]);
    expect(slice(8, 8)).toEqual([8]);
    expect(slice(1, 5)).toEqual([4, 5]);
    expect(slice(7, 99)).toEqual([7, 8]);
    for (const [from, to] of [
      [7, 6],
      [9, 12],
      [1, 3],
    ])
      expect(slice(from, to)).toEqual([]);
    // After the dropped prefix was compacted away too.
    const long = filled({ maxEvents: 1500, maxBytes: 1 << 30 }, 10_000);
    expect(long.slice(9_000, 9_002).map((event) => event.sequence)).toEqual([9_000, 9_001, 9_002]);
    expect(long.slice(9_998, 10_000).map((event) => event.sequence)).toEqual([9_998, 9_999, 10_000]);
  });

  test('endOffset: bytes ever appended through a sequence, known for held events and the last dropped one', () => {
    const buffer = new ReplayBuffer({ maxEvents: 2, maxBytes: 1000 });
    expect(buffer.endOffset(0)).toBe(0);
    buffer.append(event(1, 5));
    buffer.append(event(2, 7));
    buffer.append(event(3, 11));
    expect([0, 1, 2, 3, 4].map((s) => buffer.endOffset(s))).toEqual([undefined, 5, 12, 23, undefined]);
  });

  test('dropThrough drops a prefix and the buffer continues after it', () => {
    const buffer = filled({ maxEvents: 10, maxBytes: 1000 }, 5, 2);
    expect(buffer.dropThrough(3)).toBe(3);
    const bytes = held(event(4, 2), event(5, 2));
    expect([buffer.size, buffer.bytes, buffer.firstSequence, buffer.lastSequence]).toEqual([2, bytes, 4, 5]);
    expect(buffer.dropThrough(99)).toBe(2);
    expect([buffer.size, buffer.bytes, buffer.firstSequence, buffer.lastSequence]).toEqual([0, 0, 6, 5]);
    buffer.append(event(6));
    expect(buffer.get(6)!.sequence).toBe(6);
  });
});

describe('replay buffer inside a stream', () => {
  const registry = new StreamRegistry({ heartbeatMs: 0 });

  test('bufferMaxEvents bounds what a late joiner replays, and it is told with a reset', () => {
    const stream = registry.create(undefined, { bufferMaxEvents: 3 });
    for (let i = 1; i <= 7; i++) stream.send({ data: `e${i}` });
    const bytes = held(...[5, 6, 7].map((sequence) => stream.eventAt(sequence)!));
    expect(stream.buffered).toEqual({ events: 3, bytes, firstSequence: 5 });
    const late = record(stream.observe(undefined, { heartbeat: false }));
    expect(late.messages[0]).toEqual({
      id: `${stream.epoch}-4`,
      type: 'reset',
      data: JSON.stringify({ reason: 'history_truncated', lastEventId: null, resumesAfter: `${stream.epoch}-4` }),
    });
    expect(late.sequences).toEqual([5, 6, 7]);
  });

  test('bufferMaxBytes counts the bytes held: each frame in UTF-8, chunked, and its index', () => {
    const first = { id: 'x', type: 'message', data: 'éé', sequence: 1, epoch: 'x', bytes: 4 };
    const second = { ...first, data: '😀', sequence: 2 };
    // The epoch has the same length in every stream: the sizes hold for the stream's own ids.
    const limit = held({ ...first, id: `${'0'.repeat(12)}-1` }, { ...second, id: `${'0'.repeat(12)}-2` });
    const stream = registry.create(undefined, { bufferMaxBytes: limit });
    expect(stream.epoch).toHaveLength(12);
    expect(stream.send({ data: 'éé' })!.bytes).toBe(4);
    stream.send({ data: '😀' });
    expect(stream.buffered).toEqual({ events: 2, bytes: limit, firstSequence: 1 });
    stream.send({ data: 'abc' });
    const bytes = held(stream.eventAt(2)!, stream.eventAt(3)!);
    expect(stream.buffered).toEqual({ events: 2, bytes, firstSequence: 2 });
    expect(registry.stats().bufferedBytes).toBeGreaterThanOrEqual(bytes);
  });

  test('a resume inside the buffer is seamless, one just before it too', () => {
    const stream = registry.create(undefined, { bufferMaxEvents: 3 });
    for (let i = 1; i <= 6; i++) stream.send({ data: i });
    const edge = record(stream.observe(`${stream.epoch}-3`, { heartbeat: false }));
    // Seamless: no reset (and, without retryMs, no position marker): just the events after the id.
    expect(edge.messages).toEqual([4, 5, 6].map((n) => stream.eventAt(n)));
    expect(edge.sequences).toEqual([4, 5, 6]);
    const truncated = record(stream.observe(`${stream.epoch}-2`, { heartbeat: false }));
    expect(JSON.parse((truncated.messages[0] as { data: string }).data)).toEqual({
      reason: 'history_truncated',
      lastEventId: `${stream.epoch}-2`,
      resumesAfter: `${stream.epoch}-3`,
    });
    expect(truncated.sequences).toEqual([4, 5, 6]);
  });
});
