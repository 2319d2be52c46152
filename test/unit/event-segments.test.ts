import { setImmediate as nextTurn } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, test } from '@jest/globals';
import { ReplayBuffer } from '../../lib/core/replay-buffer.js';
import { MAX_SEGMENT_BYTES } from '../../lib/core/segment-frames.js';
import { chunkOf, formatSseMessage, frameOf } from '../../lib/core/sse-frame.js';
import type { StreamEvent } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { mulberry32 } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap and array buffers held once garbage is collected (a turn first: the buffer lets go of its turn's events). */
async function retained(): Promise<{ heap: number; arrayBuffers: number }> {
  await nextTurn();
  gc();
  gc();
  const memory = process.memoryUsage();
  return { heap: memory.heapUsed, arrayBuffers: memory.arrayBuffers };
}

const DATA = 'd'.repeat(100);

describe('Buffered events are held in segments of their own', () => {
  test("a buffered event's frame is a view into its stream's segment, never a slice of Node's shared pool", () => {
    const stream = new StreamRegistry({ heartbeatMs: 0 }).create();
    for (let index = 0; index < 300; index++) {
      stream.send({ data: `${index}:${DATA}` });
      const frame = frameOf(stream.eventAt(stream.lastSequence)!);
      // A pool slice made now shares the pool's current slab: a pooled frame would share it too.
      const probe = Buffer.allocUnsafe(8);
      expect(frame.buffer).not.toBe(probe.buffer);
      expect(frame.buffer.byteLength).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
      expect(chunkOf(frame).buffer).toBe(frame.buffer);
      expect(chunkOf(frame).toString()).toBe(`${frame.length.toString(16)}\r\n${frame.toString()}\r\n`);
    }
  });

  test('buffered events keep only their segments alive, whatever is allocated between them (after GC)', async () => {
    const stream = new StreamRegistry({ heartbeatMs: 0, bufferMaxEvents: 20_000 }).create();
    let garbage: Buffer[] = [];
    const before = await retained();
    for (let index = 0; index < 20_000; index++) {
      stream.send({ data: `${index}:${DATA}`.slice(0, 100) });
      // A direct client writes the frame; other work takes pool slices in between and lets them go.
      frameOf(stream.eventAt(stream.lastSequence)!);
      garbage.push(Buffer.allocUnsafe(3000));
      if (garbage.length > 100) garbage = [];
    }
    garbage.length = 0;
    const after = await retained();
    const frameBytes = Buffer.byteLength(formatSseMessage(stream.eventAt(stream.lastSequence)!));
    const events = stream.buffered.events;
    expect(events).toBe(20_000);
    const arrayBuffersPerEvent = (after.arrayBuffers - before.arrayBuffers) / events;
    // A frame that pinned a pool slab would hold kilobytes. The heap beside it is measured in a
    // process of its own by `npm run bench:event-memory` (in a busy Jest worker it is not exact).
    expect(arrayBuffersPerEvent).toBeLessThan(1.5 * frameBytes);
  });

  test('an event read back from its frame equals the event appended, for random types, retries and data', async () => {
    const random = mulberry32(20261206);
    const alphabet = [
      'a',
      'Z',
      ' ',
      ':',
      '\n',
      '\r',
      '\r\n',
      'ü',
      '🚀',
      '\u2028',
      '\u0000',
      'data: x',
      '\uD800',
      '\n\n',
    ];
    const text = (length: number) =>
      Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    const buffer = new ReplayBuffer({ maxEvents: 1000, maxBytes: 1 << 30 });
    const appended: StreamEvent[] = [];
    for (let sequence = 1; sequence <= 500; sequence++) {
      const data = text(Math.floor(random() * 30));
      const event: StreamEvent = {
        id: `ep-${sequence}`,
        type: random() < 0.5 ? 'message' : `t ü${sequence}`,
        data,
        ...(random() < 0.2 ? { retry: Math.floor(random() * 1e12) } : {}),
        sequence,
        epoch: 'ep',
        bytes: Buffer.byteLength(data),
      };
      appended.push(event);
      buffer.append(event);
    }
    // A turn later the events are read back from their frames (or held whole when they cannot be).
    await nextTurn();
    const read = buffer.slice(1, 500);
    expect(read).toEqual(appended);
    for (const event of read) expect(frameOf(event)).toEqual(Buffer.from(formatSseMessage(event)));
    // Within a turn every reader of an event gets the same object, and so the same frame.
    const plain = new ReplayBuffer({ maxEvents: 10, maxBytes: 1 << 30 });
    const appendedPlain = { id: 'p-1', type: 'message', data: 'a\nb', sequence: 1, epoch: 'p', bytes: 3 };
    plain.append(appendedPlain);
    expect(plain.get(1)).toBe(appendedPlain);
    await nextTurn();
    const readPlain = plain.get(1);
    expect(readPlain).not.toBe(appendedPlain);
    expect(readPlain).toEqual(appendedPlain);
    expect(plain.get(1)).toBe(readPlain);
  });

  test('segments leave memory a segment at a time as the buffer advances, and the count follows the frames', () => {
    const buffer = new ReplayBuffer({ maxEvents: 100, maxBytes: 1 << 30 });
    const held = new Set<ArrayBufferLike>();
    for (let sequence = 1; sequence <= 2000; sequence++) {
      const data = `${sequence}:${DATA}`;
      buffer.append({ id: `e-${sequence}`, type: 'message', data, sequence, epoch: 'e', bytes: data.length });
      held.add(frameOf(buffer.get(sequence)!).buffer);
    }
    const live = new Set(buffer.slice(1, 2000).map((event) => frameOf(event).buffer));
    // 100 events of about 130 bytes fit in one or two segments sized to what the stream holds.
    expect(live.size).toBeLessThanOrEqual(2);
    expect(held.size).toBeGreaterThan(5);
    const frames = buffer.slice(1, 2000).map((event) => frameOf(event).length);
    const counted = frames.reduce((sum, length) => sum + length + length.toString(16).length + 4 + 20, 0);
    expect(buffer.bytes).toBe(counted);
  });
});
