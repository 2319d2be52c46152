import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { concat, interval, map, NEVER, of, Subject, take, throwError } from 'rxjs';
import { PublicStreamError } from '../../lib/core/errors.js';
import type { ProducerContext } from '../../lib/core/producer.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { record } from './helpers.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));
const summary = (registry: StreamRegistry, id: string) =>
  [1, 2, 3, 4, 5].map((s) => registry.get(id)!.eventAt(s)).flatMap((e) => (e ? [[e.type, e.data]] : []));

describe('work function producers', () => {
  test('send() returns the event; returning completes the stream with done', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const ids: string[] = [];
    let context: ProducerContext | undefined;
    const stream = registry.create(async (ctx) => {
      context = ctx;
      ids.push(ctx.send({ data: 'a' })!.id);
      await flush();
      ids.push(ctx.send({ type: 'json', data: { b: 1 } })!.id);
    });
    expect(context!.streamId).toBe(stream.id);
    expect(context!.signal).toBe(stream.signal);
    await expect(stream.whenFinished()).resolves.toBe('completed');
    expect(ids).toEqual([`${stream.epoch}-1`, `${stream.epoch}-2`]);
    expect(summary(registry, stream.id)).toEqual([
      ['message', 'a'],
      ['json', '{"b":1}'],
      ['done', '{"status":"completed"}'],
    ]);
    expect(context!.send({ data: 'after' })).toBeUndefined();
  });

  test('a work function that throws synchronously fails the stream', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(() => {
      throw new Error('sync boom');
    });
    await expect(stream.whenFinished()).resolves.toBe('failed');
    expect(summary(registry, stream.id)).toEqual([['error', '{"status":"failed","message":"The stream failed."}']]);
  });

  test('cancel() aborts the signal with the stream and appends cancelled', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    let seen: AbortSignal | undefined;
    const stream = registry.create(({ signal }) => {
      seen = signal;
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    });
    const client = record(stream.observe(undefined, { heartbeat: false }));
    const cancelled = registry.cancel(stream.id, 'user asked');
    expect(seen!.aborted).toBe(true);
    expect(stream.state).toBe('cancelled');
    expect(client.events.map((e) => [e.id, e.type, e.data])).toEqual([
      [`${stream.epoch}-1`, 'cancelled', '{"status":"cancelled","reason":"user asked"}'],
    ]);
    expect(client.completed).toBe(true);
    await expect(cancelled).resolves.toBe('cancelled');
    // Idempotent: a second cancel answers with the state the stream ended in.
    await expect(registry.cancel(stream.id, 'again')).resolves.toBe('cancelled');
    await flush();
    expect(stream.state).toBe('cancelled');
    expect(stream.lastSequence).toBe(1);
  });
});

describe('Observable producers', () => {
  test('each item becomes the data of one event, completion appends done', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(of('one', { two: 2 }, 3));
    await expect(stream.whenFinished()).resolves.toBe('completed');
    expect(summary(registry, stream.id)).toEqual([
      ['message', 'one'],
      ['message', '{"two":2}'],
      ['message', '3'],
      ['done', '{"status":"completed"}'],
    ]);
  });

  test('toEvent chooses type and data', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const toEvent = (n: number) => ({ type: 'num', data: `n=${n}` });
    const stream = registry.create(of(1, 2), { toEvent: toEvent as (item: never) => { type: string; data: string } });
    await stream.whenFinished();
    expect(summary(registry, stream.id)).toEqual([
      ['num', 'n=1'],
      ['num', 'n=2'],
      ['done', '{"status":"completed"}'],
    ]);
  });

  test('an Observable that errors fails the stream, without leaking the message', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(
      concat(
        of('x'),
        throwError(() => new Error('internal detail')),
      ),
    );
    await expect(stream.whenFinished()).resolves.toBe('failed');
    expect(summary(registry, stream.id)).toEqual([
      ['message', 'x'],
      ['error', '{"status":"failed","message":"The stream failed."}'],
    ]);
    const open = registry.create(throwError(() => new PublicStreamError('shown')));
    await open.whenFinished();
    expect(open.eventAt(1)!.data).toBe('{"status":"failed","message":"shown"}');
  });

  test('an item that cannot be serialised fails the stream and unsubscribes', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const subject = new Subject<unknown>();
    const stream = registry.create(subject);
    subject.next('ok');
    subject.next(10n);
    await expect(stream.whenFinished()).resolves.toBe('failed');
    expect(subject.observed).toBe(false);
    expect(stream.lastSequence).toBe(2);
  });

  test('cancel() unsubscribes from a never-ending Observable', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const subject = new Subject<string>();
    const stream = registry.create(concat(subject, NEVER));
    subject.next('a');
    expect(subject.observed).toBe(true);
    stream.cancel();
    expect(subject.observed).toBe(false);
    subject.next('ignored');
    expect(summary(registry, stream.id)).toEqual([
      ['message', 'a'],
      ['cancelled', '{"status":"cancelled","reason":"cancelled"}'],
    ]);
  });
});

describe('AsyncIterable producers', () => {
  test('items become events; the end of iteration completes the stream', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    async function* items() {
      yield 'a';
      await flush();
      yield { b: true };
    }
    const stream = registry.create(items());
    await expect(stream.whenFinished()).resolves.toBe('completed');
    expect(summary(registry, stream.id)).toEqual([
      ['message', 'a'],
      ['message', '{"b":true}'],
      ['done', '{"status":"completed"}'],
    ]);
  });

  test('an AsyncIterable that throws fails the stream', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    async function* items(): AsyncGenerator<string> {
      yield 'a';
      throw new Error('iterator broke');
    }
    const stream = registry.create(items());
    await expect(stream.whenFinished()).resolves.toBe('failed');
    expect(summary(registry, stream.id)).toEqual([
      ['message', 'a'],
      ['error', '{"status":"failed","message":"The stream failed."}'],
    ]);
  });

  test('an AsyncIterable that hangs forever is cancelled: final event at once, return() called', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const returned = jest.fn(async () => ({ done: true as const, value: undefined }));
    let calls = 0;
    const hanging: AsyncIterable<string> = {
      [Symbol.asyncIterator]: () => ({
        next: () => (calls++ === 0 ? Promise.resolve({ done: false, value: 'first' }) : new Promise(() => {})),
        return: returned,
      }),
    };
    const stream = registry.create(hanging);
    await flush();
    const client = record(stream.observe(undefined, { heartbeat: false }));
    expect(client.sequences).toEqual([1]);
    stream.cancel();
    expect(returned).toHaveBeenCalledTimes(1);
    expect(stream.state).toBe('cancelled');
    expect(client.events.map((e) => e.type)).toEqual(['message', 'cancelled']);
    expect(client.completed).toBe(true);
    await flush();
    expect(stream.lastSequence).toBe(2);
  });

  test('an async generator stuck in await is cancelled too', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    async function* stuck() {
      yield 1;
      await new Promise(() => {});
    }
    const stream = registry.create(stuck());
    await flush();
    expect(stream.cancel('bye')).toBe(true);
    expect(stream.state).toBe('cancelled');
    expect(summary(registry, stream.id)).toEqual([
      ['message', '1'],
      ['cancelled', '{"status":"cancelled","reason":"bye"}'],
    ]);
  });
});

describe('timeoutMs', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('cancels the stream with reason timeout after exactly timeoutMs', async () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(interval(100).pipe(map((n) => `tick ${n}`)), { timeoutMs: 1000 });
    await jest.advanceTimersByTimeAsync(999);
    expect(stream.state).toBe('running');
    expect(stream.lastSequence).toBe(9);
    await jest.advanceTimersByTimeAsync(1);
    expect(stream.state).toBe('cancelled');
    expect(stream.signal.aborted).toBe(true);
    const last = stream.eventAt(stream.lastSequence)!;
    expect([last.type, last.data]).toEqual(['cancelled', '{"status":"cancelled","reason":"timeout"}']);
    await jest.advanceTimersByTimeAsync(1000);
    expect(stream.lastSequence).toBe(last.sequence);
  });

  test('a stream that completes in time is not cancelled later', async () => {
    jest.useFakeTimers();
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(interval(10).pipe(take(2)), { timeoutMs: 100 });
    await jest.advanceTimersByTimeAsync(50);
    expect(stream.state).toBe('completed');
    expect(stream.lastSequence).toBe(3);
    // Only the retention timer is left: the timeout was cleared.
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(500);
    expect(stream.lastSequence).toBe(3);
  });
});
