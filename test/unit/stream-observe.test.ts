import { describe, expect, test } from '@jest/globals';
import { Observable, take } from 'rxjs';
import { StreamFullyDeliveredError, StreamLimitError } from '../../lib/core/errors.js';
import { isStreamEvent, type SseMessage } from '../../lib/core/stream-event.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { range, record, recordingSink } from './helpers.js';
import { thrownBy } from '../support/thrown-by.js';

const registry = new StreamRegistry({ heartbeatMs: 0 });

describe('observe(): position marker, replay, live', () => {
  test('a new client gets the whole history, then live events; without retryMs no position marker', () => {
    const stream = registry.create();
    const a = stream.send({ data: 'a' })!;
    const b = stream.send({ type: 'tick', data: { n: 2 } })!;
    const client = record(stream.observe(undefined, { heartbeat: false }));
    expect(client.messages).toEqual([a, b]);
    const c = stream.send({ data: 'c', retry: 250 })!;
    expect(client.messages.at(-1)).toBe(c);
    expect(c).toEqual({
      id: `${stream.epoch}-3`,
      type: 'message',
      data: 'c',
      retry: 250,
      sequence: 3,
      epoch: stream.epoch,
      bytes: 1,
    });
    expect(b).toEqual({
      id: `${stream.epoch}-2`,
      type: 'tick',
      data: '{"n":2}',
      sequence: 2,
      epoch: stream.epoch,
      bytes: 7,
    });
    expect(client.completed).toBe(false);
    expect(stream.clientCount).toBe(1);
    client.subscription.unsubscribe();
    expect(stream.clientCount).toBe(0);
  });

  test('the position marker carries retryMs when configured; so does a reset', () => {
    const stream = registry.create(undefined, { retryMs: 1500, bufferMaxEvents: 1 });
    expect(record(stream.observe(null, { heartbeat: false })).messages).toEqual([
      { id: `${stream.epoch}-0`, retry: 1500 },
    ]);
    stream.send({ data: 1 });
    stream.send({ data: 2 });
    // A seamless resume gets the marker too, at the client's own position, before the events.
    expect(record(stream.observe(`${stream.epoch}-1`, { heartbeat: false })).messages).toEqual([
      { id: `${stream.epoch}-1`, retry: 1500 },
      stream.eventAt(2),
    ]);
    expect(record(stream.observe(`${stream.epoch}-2`, { heartbeat: false })).messages).toEqual([
      { id: `${stream.epoch}-2`, retry: 1500 },
    ]);
    const reset = record(stream.observe(`${stream.epoch}-0`, { heartbeat: false })).messages[0];
    expect(reset).toEqual({
      id: `${stream.epoch}-1`,
      type: 'reset',
      retry: 1500,
      data: JSON.stringify({
        reason: 'history_truncated',
        lastEventId: `${stream.epoch}-0`,
        resumesAfter: `${stream.epoch}-1`,
      }),
    });
  });

  test('resuming with Last-Event-ID continues exactly after it', () => {
    const stream = registry.create();
    for (let i = 1; i <= 5; i++) stream.send({ data: i });
    const client = record(stream.observe(`${stream.epoch}-3`, { heartbeat: false }));
    // No position marker without retryMs: the first message is the first event after the id.
    expect(client.messages).toEqual([stream.eventAt(4), stream.eventAt(5)]);
    stream.send({ data: 6 });
    expect(client.sequences).toEqual([4, 5, 6]);
    expect(client.messages).toHaveLength(3);
    const caughtUp = record(stream.observe(`${stream.epoch}-6`, { heartbeat: false }));
    expect(caughtUp.messages).toEqual([]);
    stream.send({ data: 7 });
    expect(caughtUp.messages).toEqual([stream.eventAt(7)]);
  });

  test('an id of another epoch gets a reset unknown_epoch, then the whole history', () => {
    const stream = registry.create();
    for (let i = 1; i <= 3; i++) stream.send({ data: i });
    const client = record(stream.observe('0123abcd-2', { heartbeat: false }));
    expect(client.messages[0]).toEqual({
      id: `${stream.epoch}-0`,
      type: 'reset',
      data: JSON.stringify({ reason: 'unknown_epoch', lastEventId: '0123abcd-2', resumesAfter: `${stream.epoch}-0` }),
    });
    expect(client.sequences).toEqual([1, 2, 3]);
    // Even an id of another epoch that is "ahead" of this stream is a reset, not an error.
    expect(record(stream.observe('0123abcd-999', { heartbeat: false })).sequences).toEqual([1, 2, 3]);
  });

  test('an id of another epoch on a truncated stream: reset unknown_epoch, then what is held', () => {
    const stream = registry.create(undefined, { bufferMaxEvents: 2 });
    for (let i = 1; i <= 5; i++) stream.send({ data: i });
    const client = record(stream.observe('ffff-1', { heartbeat: false }));
    expect(JSON.parse((client.messages[0] as { data: string }).data)).toEqual({
      reason: 'unknown_epoch',
      lastEventId: 'ffff-1',
      resumesAfter: `${stream.epoch}-3`,
    });
    expect(client.sequences).toEqual([4, 5]);
  });

  test('subscribing to a finished stream replays and completes; fully seen: StreamFullyDeliveredError (204)', () => {
    const stream = registry.create();
    stream.send({ data: 'x' });
    stream.complete();
    const late = record(stream.observe(undefined, { heartbeat: false }));
    expect(late.sequences).toEqual([1, 2]);
    expect(late.events[1]).toMatchObject({ type: 'done', data: '{"status":"completed"}' });
    expect(late.completed).toBe(true);
    // An empty 200 would have EventSource reconnect for ever: observe() refuses before any header.
    for (const observe of [
      () => stream.observe(`${stream.epoch}-2`),
      () => registry.observe(stream.id, `${stream.epoch}-2`),
    ]) {
      const refusal = thrownBy(observe);
      expect(refusal).toBeInstanceOf(StreamFullyDeliveredError);
      expect(refusal).toMatchObject({ statusCode: 204, code: 'STREAM_FULLY_DELIVERED' });
    }
    // A client one event short still gets that event.
    expect(record(stream.observe(`${stream.epoch}-1`, { heartbeat: false })).sequences).toEqual([2]);
    // attach(), the low-level path, has no status to answer: it ends the client at once.
    const attached = recordingSink();
    stream.attach(attached, `${stream.epoch}-2`);
    expect(attached.events).toEqual([]);
    expect(attached.ends).toEqual(['finished']);
    expect(stream.isFullySeenBy(`${stream.epoch}-2`)).toBe(true);
    expect(stream.isFullySeenBy(`${stream.epoch}-1`)).toBe(false);
    expect(stream.clientCount).toBe(0);
  });

  test('live clients receive the final event and complete; the observable is cold per subscriber', () => {
    const stream = registry.create();
    const observable = stream.observe(undefined, { heartbeat: false });
    expect(stream.clientCount).toBe(0);
    const one = record(observable);
    const two = record(observable);
    expect(stream.clientCount).toBe(2);
    stream.send({ data: 'only' });
    stream.cancel();
    for (const client of [one, two]) {
      expect(client.sequences).toEqual([1, 2]);
      expect(client.events[1]).toMatchObject({ id: `${stream.epoch}-2`, type: 'cancelled' });
      expect(client.completed).toBe(true);
    }
    expect(stream.clientCount).toBe(0);
  });
});

describe('observe(): no gap and no duplicate when events are produced during delivery', () => {
  test('a subscriber that sends from next() during the replay sees every event once, in order', () => {
    const stream = registry.create();
    for (let i = 1; i <= 5; i++) stream.send({ data: i });
    const other = record(stream.observe(undefined, { heartbeat: false }));
    const seen: number[] = [];
    stream.observe(undefined, { heartbeat: false }).subscribe((message: SseMessage) => {
      if (!isStreamEvent(message)) return;
      seen.push(message.sequence);
      if (message.sequence <= 5) stream.send({ data: `reply to ${message.sequence}` });
    });
    expect(seen).toEqual(range(1, 10));
    expect(other.sequences).toEqual(range(1, 10));
    stream.send({ data: 'live' });
    expect(seen).toEqual(range(1, 11));
  });

  test('a subscriber that sends when it gets the position marker still gets that event', () => {
    // The marker exists only with retryMs.
    const stream = registry.create(undefined, { retryMs: 1000 });
    stream.send({ data: 'before' });
    const seen: number[] = [];
    const markers: SseMessage[] = [];
    stream.observe(undefined, { heartbeat: false }).subscribe((message) => {
      if (!isStreamEvent(message)) {
        markers.push(message);
        stream.send({ data: 'from the marker' });
      } else seen.push(message.sequence);
    });
    expect(markers).toEqual([{ id: `${stream.epoch}-0`, retry: 1000 }]);
    expect(seen).toEqual([1, 2]);
  });

  test('a subscriber that completes the stream from next() gets the final event last', () => {
    const stream = registry.create();
    stream.send({ data: 1 });
    stream.send({ data: 2 });
    const messages: SseMessage[] = [];
    let completed = false;
    stream.observe(undefined, { heartbeat: false }).subscribe({
      next: (message) => {
        messages.push(message);
        if (isStreamEvent(message) && message.sequence === 1) stream.complete();
      },
      complete: () => (completed = true),
    });
    expect(messages.filter(isStreamEvent).map((m) => [m.sequence, m.type])).toEqual([
      [1, 'message'],
      [2, 'message'],
      [3, 'done'],
    ]);
    expect(completed).toBe(true);
  });

  test('unsubscribing from inside next() (take) detaches the client', () => {
    const stream = registry.create();
    for (let i = 1; i <= 4; i++) stream.send({ data: i });
    const taken = record(stream.observe(undefined, { heartbeat: false }).pipe(take(3)));
    expect(taken.messages.length).toBe(3);
    expect(taken.completed).toBe(true);
    expect(stream.clientCount).toBe(0);
    const first = record(stream.observe(undefined, { heartbeat: false }).pipe(take(1)));
    expect(first.messages).toEqual([stream.eventAt(1)]);
    expect(stream.clientCount).toBe(0);
    // Unsubscribing on the position marker (with retryMs, the message before the client is attached).
    const marked = registry.create(undefined, { retryMs: 1000 });
    marked.send({ data: 1 });
    const marker = record(marked.observe(undefined, { heartbeat: false }).pipe(take(1)));
    expect(marker.messages).toEqual([{ id: `${marked.epoch}-0`, retry: 1000 }]);
    expect(marker.completed).toBe(true);
    expect(marked.clientCount).toBe(0);
  });
});

describe('observe(): capacity', () => {
  test('maxClientsPerStream makes observe() throw StreamLimitError (503) synchronously', () => {
    const stream = registry.create(undefined, { maxClientsPerStream: 2 });
    const a = record(stream.observe(undefined, { heartbeat: false }));
    record(stream.observe(undefined, { heartbeat: false }));
    let thrown: unknown;
    try {
      stream.observe(undefined, { heartbeat: false });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StreamLimitError);
    expect((thrown as StreamLimitError).statusCode).toBe(503);
    expect((thrown as StreamLimitError).limit).toBe('maxClientsPerStream');
    expect(() => stream.attach({ write: () => true, end: () => {} })).toThrow(StreamLimitError);
    a.subscription.unsubscribe();
    expect(stream.observe(undefined, { heartbeat: false })).toBeInstanceOf(Observable);
  });
});
