import { describe, expect, jest, test } from '@jest/globals';
import { EventTooLargeError, InvalidStreamInputError, PublicStreamError } from '../../lib/core/errors.js';
import type { StreamLogger } from '../../lib/core/logger.js';
import { resolveStreamOptions } from '../../lib/core/options.js';
import { ResumableStream } from '../../lib/core/stream.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { record } from './helpers.js';

function logger() {
  return { log: jest.fn(), warn: jest.fn(), error: jest.fn(), debug: jest.fn() } satisfies StreamLogger;
}

describe('states and final events', () => {
  const hooks = () => ({ logger: logger(), onFinish: jest.fn(), onClientEnd: jest.fn() });

  test('pending -> running -> completed, with a final done event that has an id', () => {
    const h = hooks();
    const stream = new ResumableStream('s1', resolveStreamOptions({ heartbeatMs: 0 }), h);
    expect(stream.state).toBe('pending');
    stream.start();
    expect(stream.state).toBe('running');
    stream.send({ data: 'x' });
    expect(stream.signal.aborted).toBe(false);
    expect(stream.complete()).toBe(true);
    expect(stream.state).toBe('completed');
    expect(stream.isFinished).toBe(true);
    expect(typeof stream.finishedAt).toBe('number');
    expect(stream.signal.aborted).toBe(true);
    expect(stream.eventAt(2)).toEqual({
      id: `${stream.epoch}-2`,
      type: 'done',
      data: '{"status":"completed"}',
      sequence: 2,
      epoch: stream.epoch,
      bytes: 22,
    });
    expect(h.onFinish).toHaveBeenCalledTimes(1);
    expect([stream.complete(), stream.fail(new Error('late')), stream.cancel()]).toEqual([false, false, false]);
    expect(stream.send({ data: 'late' })).toBeUndefined();
    expect(stream.lastSequence).toBe(2);
    expect(h.onFinish).toHaveBeenCalledTimes(1);
  });

  test('whenFinished() resolves with the final state', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    stream.cancel('user');
    await expect(stream.whenFinished()).resolves.toBe('cancelled');
    expect(stream.eventAt(1)!.data).toBe('{"status":"cancelled","reason":"user"}');
  });

  test('event type names come from eventTypes', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0, eventTypes: { message: 'msg', done: 'end' } });
    const a = registry.create(undefined, { eventTypes: { error: 'oops', cancelled: 'stopped', reset: 'rewind' } });
    expect(a.send({ data: 1 })!.type).toBe('msg');
    a.fail(new Error('x'));
    expect(a.eventAt(2)!.type).toBe('oops');
    const b = registry.create(undefined, { eventTypes: { reset: 'rewind' }, bufferMaxEvents: 1 });
    b.send({ data: 1 });
    b.send({ data: 2 });
    expect(record(b.observe(undefined, { heartbeat: false })).messages[0]).toMatchObject({ type: 'rewind' });
    b.complete();
    expect(b.eventAt(3)!.type).toBe('end');
    const c = registry.create(undefined, { eventTypes: { cancelled: 'stopped' } });
    c.cancel();
    expect(c.eventAt(1)!.type).toBe('stopped');
  });

  test.each([['has space'], [''], ['new\nline'], ['é']])('eventTypes value %j is rejected', (value) => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    expect(() => registry.create(undefined, { eventTypes: { done: value } })).toThrow(InvalidStreamInputError);
  });

  test('the final event is issued even when maxEventBytes is smaller than its data', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(undefined, { maxEventBytes: 32 });
    expect(stream.send({ data: 'small' })!.sequence).toBe(1);
    let thrown: unknown;
    try {
      // The final event's data is {"status":"cancelled","reason":"cancelled"}: 43 bytes.
      stream.cancel();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined();
    expect(stream.state).toBe('cancelled');
    expect(stream.eventAt(2)?.type).toBe('cancelled');
  });

  test('a producer failing with a PublicStreamError longer than maxEventBytes still ends the stream', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const message = 'm'.repeat(100);
    const stream = registry.create(
      async () => {
        throw new PublicStreamError(message);
      },
      { maxEventBytes: 50 },
    );
    const late = new Promise((resolve) => setTimeout(() => resolve(`still ${stream.state} after 1 s`), 1000).unref());
    await expect(Promise.race([stream.whenFinished(), late])).resolves.toBe('failed');
    expect(stream.eventAt(1)!.data).toBe(JSON.stringify({ status: 'failed', message }));
  });
});

describe('producer failures', () => {
  test('a non-public error reaches clients as a generic message; the details go to the logger', async () => {
    const log = logger();
    const registry = new StreamRegistry({ heartbeatMs: 0, logger: log });
    const stream = registry.create(async ({ send }) => {
      send({ data: 'partial' });
      throw new Error('db password=hunter2');
    });
    const client = record(stream.observe(undefined, { heartbeat: false }));
    await expect(stream.whenFinished()).resolves.toBe('failed');
    expect(client.events.map((e) => [e.sequence, e.type, e.data])).toEqual([
      [1, 'message', 'partial'],
      [2, 'error', '{"status":"failed","message":"The stream failed."}'],
    ]);
    expect(JSON.stringify(client.messages)).not.toContain('hunter2');
    expect(client.completed).toBe(true);
    expect(log.error).toHaveBeenCalledTimes(1);
    expect(log.error.mock.calls[0][0]).toBe(`Stream ${stream.id} failed: db password=hunter2`);
    expect(log.error.mock.calls[0][1]).toContain('Error: db password=hunter2');
  });

  test('a PublicStreamError message is shown to clients', async () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create(async () => {
      throw new PublicStreamError('Quota exceeded, try tomorrow');
    });
    await stream.whenFinished();
    expect(stream.eventAt(1)!.data).toBe('{"status":"failed","message":"Quota exceeded, try tomorrow"}');
  });

  test('a thrown non-Error value is logged as a string and reported generically', () => {
    const log = logger();
    const registry = new StreamRegistry({ heartbeatMs: 0, logger: log });
    const stream = registry.create();
    expect(stream.fail('plain string')).toBe(true);
    expect(log.error).toHaveBeenCalledWith(`Stream ${stream.id} failed: plain string`, undefined);
    expect(stream.eventAt(1)!.data).toBe('{"status":"failed","message":"The stream failed."}');
  });

  test('an error after the stream finished is only logged at debug level', async () => {
    const log = logger();
    const registry = new StreamRegistry({ heartbeatMs: 0, logger: log });
    let release!: () => void;
    const stream = registry.create(async ({ signal }) => {
      await new Promise<void>((resolve) => (release = resolve));
      throw new Error(`after ${signal.aborted ? 'abort' : 'nothing'}`);
    });
    stream.cancel();
    release();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stream.state).toBe('cancelled');
    expect(stream.lastSequence).toBe(1);
    expect(log.error).not.toHaveBeenCalled();
    expect(log.debug).toHaveBeenCalledWith(
      `Stream ${stream.id}: producer error after the stream finished: Error: after abort`,
    );
  });
});

describe('send() input validation', () => {
  const registry = new StreamRegistry({ heartbeatMs: 0 });

  test.each([['a\rb'], ['a\nb'], ['a\0b'], ['\r\n'], ['']])('type %j is rejected and consumes no sequence', (type) => {
    const stream = registry.create();
    expect(() => stream.send({ type, data: 'x' })).toThrow(InvalidStreamInputError);
    expect(stream.lastSequence).toBe(0);
    expect(stream.send({ data: 'ok' })!.id).toBe(`${stream.epoch}-1`);
  });

  test('a type that is not a string is rejected', () => {
    const stream = registry.create();
    for (const type of [5, true, { toString: () => 'x' }]) {
      expect(() => stream.send({ type: type as never, data: 'x' })).toThrow(InvalidStreamInputError);
    }
    expect(stream.lastSequence).toBe(0);
  });

  test('multi-line string data is kept intact, byte for byte', () => {
    const stream = registry.create();
    const text = 'line 1\nline 2\r\nline 3\rend\n\n';
    expect(stream.send({ data: text })!.data).toBe(text);
    const client = record(stream.observe(undefined, { heartbeat: false }));
    expect(client.events[0].data).toBe(text);
  });

  test('object data is serialised once per event, not per client', () => {
    const stream = registry.create();
    const clients = [1, 2, 3].map(() => record(stream.observe(undefined, { heartbeat: false })));
    const toJSON = jest.fn(() => ({ big: true }));
    stream.send({ data: { toJSON } });
    expect(toJSON).toHaveBeenCalledTimes(1);
    for (const client of clients) expect(client.events[0].data).toBe('{"big":true}');
    expect(clients[0].events[0]).toBe(clients[2].events[0]);
  });

  test.each([
    ['undefined data', { data: undefined }],
    ['a BigInt', { data: 10n }],
    ['a function', { data: () => 1 }],
    ['missing data', {}],
    ['negative retry', { data: 'x', retry: -1 }],
    ['fractional retry', { data: 'x', retry: 1.5 }],
  ])('%s is rejected with InvalidStreamInputError (400)', (_name, input) => {
    const stream = registry.create();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [input, { data: cyclic }]) {
      let thrown: unknown;
      try {
        stream.send(bad as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidStreamInputError);
      expect((thrown as InvalidStreamInputError).statusCode).toBe(400);
    }
    expect(stream.lastSequence).toBe(0);
  });

  test('data over maxEventBytes (UTF-8) is rejected with EventTooLargeError (413)', () => {
    const stream = registry.create(undefined, { maxEventBytes: 11 });
    expect(stream.send({ data: 'é'.repeat(5) })!.bytes).toBe(10);
    let thrown: unknown;
    try {
      stream.send({ data: 'é'.repeat(6) });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(EventTooLargeError);
    expect((thrown as EventTooLargeError).statusCode).toBe(413);
    expect(stream.lastSequence).toBe(1);
  });
});
