import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import type { SseMessage } from '../../lib/core/stream-event.js';
import { HeartbeatTicker } from '../../lib/core/heartbeat.js';
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

  test('a stream that sends events beats nobody: the beats of a tick do not grow with its clients while it is busy', () => {
    const beatsWhileSending = (clients: number) => {
      const ticker = new HeartbeatTicker(1000);
      let beaten = 0;
      for (let i = 0; i < clients; i++) ticker.add({ beat: () => beaten++ });
      // An event every 500 ms for 20 intervals: every client hears from the stream twice an interval.
      for (let t = 0; t < 20_000; t += 500) {
        jest.advanceTimersByTime(500);
        ticker.wrote();
      }
      ticker.stop();
      return beaten;
    };
    expect([beatsWhileSending(10), beatsWhileSending(1000)]).toEqual([0, 0]);
  });

  test('once the stream falls silent, the beat comes heartbeatMs after its last event, and every heartbeatMs then', () => {
    const registry = new StreamRegistry({ heartbeatMs: 1000 });
    const stream = registry.create();
    const client = record(stream.observe());
    jest.advanceTimersByTime(700);
    const event = stream.send({ data: 'e' })!;
    // Due at 1000 from the start, but the stream sent at 700: no beat before 1700.
    jest.advanceTimersByTime(999);
    expect(client.messages).toEqual([event]);
    jest.advanceTimersByTime(1);
    expect(client.messages).toEqual([event, HEARTBEAT]);
    jest.advanceTimersByTime(1000);
    expect(beats(client.messages)).toBe(2);
    // One timer for the stream all along.
    expect(jest.getTimerCount()).toBe(1);
    client.subscription.unsubscribe();
  });
});
