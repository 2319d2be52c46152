import { afterEach, describe, expect, test } from '@jest/globals';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import {
  InterjectionTooLargeError,
  InvalidStreamInputError,
  StreamFinishedError,
  StreamNotFoundError,
} from '../../lib/core/errors.js';
import { InterjectionBuffer } from '../../lib/core/interjections.js';
import type { ProducerContext } from '../../lib/core/producer.js';
import { StreamRegistry, type StreamRegistryOptions } from '../../lib/core/stream-registry.js';
import { eventually } from '../support/eventually.js';

let registries: StreamRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
  registries = [];
});

function instance(options: StreamRegistryOptions = {}) {
  const registry = new StreamRegistry({ heartbeatMs: 0, ...options });
  registries.push(registry);
  return registry;
}

/** A producer that waits until told, then drains its interjections and returns what it drained. */
function drainingProducer() {
  let context!: ProducerContext;
  let release!: () => void;
  let began!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const started = new Promise<void>((resolve) => (began = resolve));
  const producer = async (ctx: ProducerContext) => {
    context = ctx;
    began();
    await released;
    const text = ctx.interjections.drain();
    ctx.send({ type: 'interjection', data: text });
    return text;
  };
  return { producer, started, release, context: () => context };
}

describe('InterjectionBuffer', () => {
  test('append joins with a newline, replace replaces, peek leaves, drain takes all, clear empties', () => {
    const buffer = new InterjectionBuffer();
    expect(buffer.length).toBe(0);
    expect(buffer.peek()).toBe('');
    expect(buffer.drain()).toBe('');
    expect(buffer.append('one')).toBe(3);
    expect(buffer.append('twö')).toBe(Buffer.byteLength('one\ntwö'));
    expect(buffer.peek()).toBe('one\ntwö');
    expect(buffer.length).toBe(Buffer.byteLength('one\ntwö'));
    expect(buffer.replace('three')).toBe(5);
    expect(buffer.peek()).toBe('three');
    expect(buffer.drain()).toBe('three');
    expect(buffer.length).toBe(0);
    expect(buffer.drain()).toBe('');
    buffer.append('x');
    buffer.clear();
    expect(buffer.peek()).toBe('');
    expect(buffer.length).toBe(0);
  });

  test('a custom combiner joins', () => {
    const buffer = new InterjectionBuffer(100, (queued, added) => `${queued} | ${added}`);
    buffer.append('a');
    buffer.append('b');
    expect(buffer.peek()).toBe('a | b');
  });

  test('empty or whitespace-only text is a 400; nothing changes', () => {
    const buffer = new InterjectionBuffer();
    buffer.append('kept');
    for (const text of ['', '   ', '\n\t ']) {
      expect(() => buffer.append(text)).toThrow(InvalidStreamInputError);
      expect(() => buffer.replace(text)).toThrow(InvalidStreamInputError);
    }
    expect(buffer.peek()).toBe('kept');
  });

  test('over the cap (bytes, with the combiner) is a 413 that names the fix; nothing changes', () => {
    const buffer = new InterjectionBuffer(10);
    buffer.append('12345');
    expect(buffer.append('1234')).toBe(10);
    const error = (() => {
      try {
        buffer.append('x');
      } catch (thrown) {
        return thrown as InterjectionTooLargeError;
      }
    })();
    expect(error).toBeInstanceOf(InterjectionTooLargeError);
    expect(error?.statusCode).toBe(413);
    expect(error?.message).toMatch(/interjectionMaxBytes/);
    expect(buffer.peek()).toBe('12345\n1234');
    expect(() => buffer.replace('é'.repeat(6))).toThrow(InterjectionTooLargeError);
    expect(buffer.replace('0123456789')).toBe(10);
  });

  test('the default cap is 64 KiB', () => {
    const buffer = new InterjectionBuffer();
    expect(buffer.replace('x'.repeat(64 * 1024))).toBe(65536);
    expect(() => buffer.append('y')).toThrow(InterjectionTooLargeError);
  });
});

describe('interjections on one registry', () => {
  test('reach the producer in order, drained once; the answer carries the bytes queued', async () => {
    const registry = instance();
    const { producer, started, release } = drainingProducer();
    const stream = registry.create(producer);
    await started;
    expect(await registry.interject(stream.id, 'first')).toEqual({ queuedBytes: 5 });
    expect(await registry.interject(stream.id, 'second')).toEqual({ queuedBytes: 12 });
    release();
    await stream.whenFinished();
    expect(stream.interjections.length).toBe(0);
    expect(stream.eventAt(1)?.data).toBe('first\nsecond');
  });

  test('replace mode, the stream option cap and combiner', async () => {
    const registry = instance();
    const { producer, started, context } = drainingProducer();
    const stream = registry.create(producer, {
      interjectionMaxBytes: 8,
      combineInterjections: (a, b) => `${a}+${b}`,
    });
    await started;
    await registry.interject(stream.id, 'ab');
    await registry.interject(stream.id, 'cd');
    expect(context().interjections.peek()).toBe('ab+cd');
    expect(await registry.interject(stream.id, 'new', { mode: 'replace' })).toEqual({ queuedBytes: 3 });
    await expect(registry.interject(stream.id, '123456789')).rejects.toBeInstanceOf(InterjectionTooLargeError);
    expect(context().interjections.peek()).toBe('new');
    await expect(registry.interject(stream.id, '  ')).rejects.toBeInstanceOf(InvalidStreamInputError);
    await expect(registry.interject(stream.id, 'x', { mode: 'bad' as 'append' })).rejects.toBeInstanceOf(
      InvalidStreamInputError,
    );
  });

  test('a finished stream is a 409, an unknown one a 404', async () => {
    const registry = instance();
    const stream = registry.create(async () => undefined);
    await stream.whenFinished();
    const error = await registry.interject(stream.id, 'late').catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(StreamFinishedError);
    expect((error as StreamFinishedError).statusCode).toBe(409);
    await expect(registry.interject('nope', 'hi')).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  test('a soft-cancelled stream takes no interjections (409)', async () => {
    const registry = instance();
    const { producer, started, release } = drainingProducer();
    const stream = registry.create(producer);
    await started;
    await registry.softCancel(stream.id);
    await expect(registry.interject(stream.id, 'hi')).rejects.toBeInstanceOf(StreamFinishedError);
    release();
  });
});

describe('interjections: two registries on one InProcessStreamBus', () => {
  test("from B reach A's producer once, in order, with the bytes queued; 413 and 409 from B", async () => {
    const bus = new InProcessStreamBus();
    const [a, b] = [instance({ bus }), instance({ bus })];
    const { producer, started, release, context } = drainingProducer();
    const stream = a.create(producer, { interjectionMaxBytes: 20 });
    await started;
    const answers = await Promise.all(['one', 'two', 'three'].map((text) => b.interject(stream.id, text)));
    expect(answers).toEqual([{ queuedBytes: 3 }, { queuedBytes: 7 }, { queuedBytes: 13 }]);
    expect(context().interjections.peek()).toBe('one\ntwo\nthree');
    const tooLarge = await b.interject(stream.id, 'x'.repeat(10)).catch((thrown: unknown) => thrown);
    expect(tooLarge).toBeInstanceOf(InterjectionTooLargeError);
    expect((tooLarge as InterjectionTooLargeError).statusCode).toBe(413);
    await expect(b.interject(stream.id, ' ')).rejects.toBeInstanceOf(InvalidStreamInputError);
    release();
    expect(await stream.whenFinished()).toBe('completed');
    const events = await bus.read(stream.id, 0, 10);
    expect(events.map((event) => [event.type, event.data])).toEqual([
      ['interjection', 'one\ntwo\nthree'],
      ['done', expect.any(String)],
    ]);
    await eventually(async () => (await bus.lookup(stream.id))?.status === 'completed');
    await expect(b.interject(stream.id, 'late')).rejects.toBeInstanceOf(StreamFinishedError);
  });

  test('a request id seen again is answered as before and not applied twice', async () => {
    const bus = new InProcessStreamBus();
    const a = instance({ bus });
    const { producer, started, context } = drainingProducer();
    const stream = a.create(producer);
    await started;
    const open = bus as unknown as { channels: Map<string, { onControl: (m: object) => unknown }> };
    const onControl = open.channels.get(stream.id)!.onControl;
    const message = { type: 'interject', id: 'req-1', data: { text: 'once' } };
    expect(onControl(message)).toEqual({ queuedBytes: 4 });
    expect(onControl(message)).toEqual({ queuedBytes: 4 });
    expect(context().interjections.peek()).toBe('once');
  });
});

describe('the sample demo producer', () => {
  test('weaves interjections in at a sentence end of its prose, once', async () => {
    const { demoProducer } = await import('../../sample-app/src/streams/demo-producer.js');
    const { parseCreateStreamRequest } = await import('../../sample-app/src/streams/create-stream-request.js');
    const registry = instance();
    const request = parseCreateStreamRequest({ prompt: 'tell me about rivers', intervalMs: 0, startDelayMs: 30 });
    const stream = registry.create(demoProducer(request));
    expect(await registry.interject(stream.id, 'shorter please')).toEqual({ queuedBytes: 14 });
    await stream.whenFinished();
    const deltas: { text: string; interjection?: boolean }[] = [];
    for (let sequence = 1; sequence <= stream.lastSequence; sequence++) {
      const event = stream.eventAt(sequence);
      if (event?.type === 'text_delta') deltas.push(JSON.parse(event.data) as { text: string });
    }
    const woven = deltas.findIndex((delta) => delta.interjection);
    expect(woven).toBeGreaterThan(0);
    expect(deltas[woven].text).toContain('shorter please');
    expect(deltas[woven - 1].text).toMatch(/[.!?]\s*$/);
    expect(deltas.filter((delta) => delta.interjection)).toHaveLength(1);
  });
});
