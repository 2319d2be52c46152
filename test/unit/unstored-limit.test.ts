import { describe, expect, it } from '@jest/globals';
import {
  InvalidStreamInputError,
  StoreUnavailableError,
  StreamRegistry,
  type ProducerContext,
  type StreamRegistryOptions,
} from '../../lib/index.js';
import { SwitchableStore } from '../support/switchable-store.js';
import { eventually } from '../support/eventually.js';
import { range, record } from './helpers.js';

/*
 * While the store is down, what a stream holds unstored is bounded: past maxUnstoredBytes its
 * producer is held back (ctx.writable(), AsyncIterables not pulled), and resumes once the store
 * catches up; past twice it, or over it for unstoredFailAfterMs, the stream fails with
 * StoreUnavailableError instead of the process running out of memory.
 */

const EVENT = 'x'.repeat(100); // a string is sent as it is: 100 bytes
const LIMIT = 1_000;

function setup(options: StreamRegistryOptions = {}) {
  const store = new SwitchableStore();
  const registry = new StreamRegistry({
    store,
    heartbeatMs: 0,
    persistEveryEvents: 0,
    persistEveryMs: 10,
    maxUnstoredBytes: LIMIT,
    unstoredFailAfterMs: 0,
    ...options,
  });
  return { store, registry };
}

describe('unstored limits while the store is down', () => {
  it('holds a work function back at ctx.writable() past maxUnstoredBytes, and lets it go on once the store catches up', async () => {
    const { store, registry } = setup();
    store.down = true;
    let sent = 0;
    let waiting = false;
    const stream = registry.create(async ({ send, writable }: ProducerContext) => {
      for (let i = 0; i < 40; i++) {
        send({ data: EVENT });
        sent++;
        waiting = true;
        await writable();
        waiting = false;
      }
    });
    const client = record(stream.observe());
    await eventually(() => waiting && sent === 11);
    // Several failed writes later it still waits, memory bounded by one event past the limit.
    await store.nextAttempts(3);
    expect({ sent, waiting, unstored: registry.stats().unstoredBytes }).toEqual({
      sent: 11,
      waiting: true,
      unstored: 1_100,
    });
    // Clients meanwhile have what is in memory.
    expect(client.sequences).toEqual(range(1, 11));

    store.down = false;
    expect(await stream.whenFinished()).toBe('completed');
    await eventually(() => stream.persistedThrough === 41);
    expect(store.sequences(stream.id)).toEqual(range(1, 41));
    expect(registry.stats().unstoredBytes).toBe(0);
    await registry.shutdown({ graceMs: 0 });
  });

  it('pulls an AsyncIterable no further past the limit, and again once the store is back', async () => {
    const { store, registry } = setup();
    store.down = true;
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 30; i++) {
        pulled++;
        yield EVENT;
      }
    }
    const stream = registry.create(source());
    await eventually(() => pulled === 11);
    await store.nextAttempts(3);
    expect({ pulled, lastSequence: stream.lastSequence }).toEqual({ pulled: 11, lastSequence: 11 });
    store.down = false;
    expect(await stream.whenFinished()).toBe('completed');
    expect(pulled).toBe(30);
    await eventually(() => store.sequences(stream.id).length === 31);
    await registry.shutdown({ graceMs: 0 });
  });

  it('fails the stream with StoreUnavailableError after unstoredFailAfterMs over the limit; what it sent is stored once the store is back', async () => {
    const { store, registry } = setup({ unstoredFailAfterMs: 200 });
    store.down = true;
    const stream = registry.create(async ({ send, writable, signal }: ProducerContext) => {
      while (!signal.aborted) {
        send({ data: EVENT });
        await writable();
      }
    });
    const client = record(stream.observe());
    expect(await stream.whenFinished()).toBe('failed');
    const last = client.events.at(-1)!;
    expect(last.type).toBe('error');
    expect(JSON.parse(last.data)).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(/^The event store is unavailable \(over maxUnstoredBytes for 200 ms\)/),
    });
    expect(client.sequences).toEqual(range(1, 12));
    store.down = false;
    // Its retries back off up to 30 s once the stream has ended; a persist() writes at once.
    await stream.persist();
    expect(store.sequences(stream.id)).toEqual(range(1, 12));
    await registry.shutdown({ graceMs: 0 });
  });

  it('fails a producer that does not wait once twice the limit is unstored (send() stays synchronous)', async () => {
    const { store, registry } = setup();
    store.down = true;
    const returned: unknown[] = [];
    const stream = registry.create(({ send }: ProducerContext) => {
      for (let i = 0; i < 100; i++) returned.push(send({ data: EVENT }));
    });
    expect(stream.state).toBe('failed');
    expect(stream.eventAt(22)).toMatchObject({ type: 'error' });
    expect(JSON.parse(stream.eventAt(22)!.data).message).toMatch(
      /more than twice maxUnstoredBytes \(1000\) not stored/,
    );
    expect(returned.filter((event) => event !== undefined)).toHaveLength(21);
    // The limits count events' data bytes (the buffer holds their frames, a little more).
    const unstoredData = range(1, 22).reduce((sum, sequence) => sum + stream.eventAt(sequence)!.bytes, 0);
    expect(unstoredData).toBeLessThanOrEqual(2 * LIMIT + 1_000);
    store.down = false;
    await eventually(() => stream.persistedThrough === 22);
    await registry.shutdown({ graceMs: 0 });
  });

  it('holds back every producer of the instance past maxUnstoredBytesTotal', async () => {
    const { store, registry } = setup({ maxUnstoredBytes: 1_000_000, maxUnstoredBytesTotal: 1_500 });
    store.down = true;
    const peaks: number[] = [];
    const producer = async ({ send, writable }: ProducerContext) => {
      for (let i = 0; i < 20; i++) {
        send({ data: EVENT });
        peaks.push(registry.stats().unstoredBytes);
        await writable();
      }
    };
    const streams = [registry.create(producer), registry.create(producer)];
    await eventually(() => registry.stats().unstoredBytes > 1_500);
    await store.nextAttempts(4);
    // Past the total by at most one event per stream: each may have been let through just before it.
    expect(Math.max(...peaks)).toBeLessThanOrEqual(1_700);
    expect(streams.map((stream) => stream.state)).toEqual(['running', 'running']);
    store.down = false;
    expect(await Promise.all(streams.map((stream) => stream.whenFinished()))).toEqual(['completed', 'completed']);
    await eventually(() => registry.stats().unstoredBytes === 0);
    await registry.shutdown({ graceMs: 0 });
  });

  it('rejects bad limits, and unknown durability, as InvalidStreamInputError', () => {
    const store = new SwitchableStore();
    expect(() => new StreamRegistry({ store, maxUnstoredBytes: 0 })).toThrow(InvalidStreamInputError);
    expect(() => new StreamRegistry({ store, unstoredFailAfterMs: -1 })).toThrow(InvalidStreamInputError);
    expect(() => new StreamRegistry({ store, maxUnstoredBytesTotal: 0 })).toThrow(InvalidStreamInputError);
    expect(() => new StreamRegistry({ store, groupCommitMs: 0 })).toThrow(InvalidStreamInputError);
    const registry = new StreamRegistry({ store });
    expect(() => registry.create(undefined, { durability: 'later' as never })).toThrow(/durability must be/);
    expect(new StoreUnavailableError('why')).toBeInstanceOf(Error);
  });
});
