import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import type { SseMessage } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { record } from './helpers.js';

const HEARTBEAT = { comment: 'heartbeat' };
const beats = (messages: SseMessage[]) => messages.filter((m) => 'comment' in m).length;

describe('heartbeats', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  test('a heartbeat comment every heartbeatMs while subscribed, none after unsubscribing', () => {
    const registry = new StreamRegistry({ heartbeatMs: 1000 });
    const stream = registry.create();
    const client = record(stream.observe());
    expect(client.messages).toEqual([]);
    jest.advanceTimersByTime(999);
    expect(client.messages).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(client.messages).toEqual([HEARTBEAT]);
    const event = stream.send({ data: 'e' })!;
    jest.advanceTimersByTime(2000);
    expect(client.messages).toEqual([HEARTBEAT, event, HEARTBEAT, HEARTBEAT]);
    client.subscription.unsubscribe();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(5000);
    expect(beats(client.messages)).toBe(3);
  });

  test('one timer per stream, shared by its clients', () => {
    const registry = new StreamRegistry({ heartbeatMs: 500 });
    const stream = registry.create();
    const a = record(stream.observe());
    const b = record(stream.observe());
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(1500);
    expect([beats(a.messages), beats(b.messages)]).toEqual([3, 3]);
    a.subscription.unsubscribe();
    jest.advanceTimersByTime(500);
    expect([beats(a.messages), beats(b.messages)]).toEqual([3, 4]);
    expect(jest.getTimerCount()).toBe(1);
  });

  test('heartbeats stop when the stream finishes', () => {
    const registry = new StreamRegistry({ heartbeatMs: 100, retentionMs: 60_000 });
    const stream = registry.create();
    const client = record(stream.observe());
    jest.advanceTimersByTime(250);
    stream.complete();
    expect(client.completed).toBe(true);
    jest.advanceTimersByTime(1000);
    expect(beats(client.messages)).toBe(2);
    expect(client.messages.at(-1)).toMatchObject({ type: 'done' });
    // Only the retention timer is left.
    expect(jest.getTimerCount()).toBe(1);
  });

  test('{ heartbeat: false }, heartbeatMs 0 and finished streams get none', () => {
    const registry = new StreamRegistry({ heartbeatMs: 100 });
    const stream = registry.create();
    const off = record(stream.observe(undefined, { heartbeat: false }));
    const zero = registry.create(undefined, { heartbeatMs: 0 });
    const zeroClient = record(zero.observe());
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(1000);
    expect([beats(off.messages), beats(zeroClient.messages)]).toEqual([0, 0]);
    const done = registry.create();
    done.complete();
    const late = record(done.observe());
    jest.advanceTimersByTime(1000);
    expect(beats(late.messages)).toBe(0);
    expect(late.completed).toBe(true);
  });

  test('heartbeats are not stream events', () => {
    const registry = new StreamRegistry({ heartbeatMs: 10 });
    const stream = registry.create();
    const client = record(stream.observe());
    jest.advanceTimersByTime(30);
    const event = stream.send({ data: 1 })!;
    expect(client.events.map((e) => e.sequence)).toEqual([1]);
    expect(client.messages).toEqual([HEARTBEAT, HEARTBEAT, HEARTBEAT, event]);
    client.subscription.unsubscribe();
  });
});
