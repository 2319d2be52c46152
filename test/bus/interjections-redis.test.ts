import { describe, expect, test } from '@jest/globals';
import {
  InterjectionTooLargeError,
  InvalidStreamInputError,
  StreamFinishedError,
  type ProducerContext,
} from 'nestjs-meridian-stream';
import { eventually, within } from '../support/eventually.js';
import { redisAvailable, redisInstances } from '../support/redis.js';

/*
 * Interjections (issue 24 item 2) across two instances on the shared Redis: two registries, each
 * with its own RedisStreamBus on one unique key prefix (nothing else in that Redis is touched).
 */
const maybe = redisAvailable() ? describe : describe.skip;

const instances = redisInstances();

/** A producer that records every change of its interjection buffer until released, then drains it. */
function watchingProducer() {
  const drained: string[] = [];
  let context!: ProducerContext;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const producer = async (ctx: ProducerContext) => {
    context = ctx;
    await released;
    drained.push(ctx.interjections.drain());
    ctx.send({ type: 'interjection', data: drained[0] });
  };
  return { producer, release, drained, context: () => context };
}

maybe('interjections across instances (Redis)', () => {
  test("from B reach A's producer once, in order; each answer carries the bytes queued", async () => {
    const [a, b] = instances(2);
    const { producer, release, drained, context } = watchingProducer();
    const stream = a.registry.create(producer);
    await stream.whenShared();
    const texts = ['one', 'two', 'three', 'four', 'five'];
    const answers = await Promise.all(texts.map((text) => b.registry.interject(stream.id, text)));
    let queued = '';
    expect(answers).toEqual(
      texts.map((text) => ({ queuedBytes: Buffer.byteLength((queued = queued ? `${queued}\n${text}` : text)) })),
    );
    expect(context().interjections.peek()).toBe(texts.join('\n'));
    expect(await b.registry.interject(stream.id, 'only', { mode: 'replace' })).toEqual({ queuedBytes: 4 });
    await expect(b.registry.interject(stream.id, ' \n ')).rejects.toBeInstanceOf(InvalidStreamInputError);
    release();
    await within(stream.whenFinished(), 5_000, () => 'not finished on A');
    expect(drained).toEqual(['only']);
    expect((await b.bus.read(stream.id, 0, 10)).map((e) => [e.type, e.data])).toEqual([
      ['interjection', 'only'],
      ['done', expect.any(String)],
    ]);
  });

  test('413 and 409 from B, typed; nothing is applied', async () => {
    const [a, b] = instances(2);
    const { producer, release, context } = watchingProducer();
    const stream = a.registry.create(producer, { interjectionMaxBytes: 10 });
    await stream.whenShared();
    expect(await b.registry.interject(stream.id, '12345')).toEqual({ queuedBytes: 5 });
    const tooLarge = await b.registry.interject(stream.id, '12345').catch((error: unknown) => error);
    expect(tooLarge).toBeInstanceOf(InterjectionTooLargeError);
    expect((tooLarge as InterjectionTooLargeError).statusCode).toBe(413);
    expect((tooLarge as Error).message).toMatch(/11 bytes, more than interjectionMaxBytes \(10\)/);
    expect(context().interjections.peek()).toBe('12345');
    release();
    await within(stream.whenFinished(), 5_000, () => 'not finished on A');
    await eventually(async () => (await b.bus.lookup(stream.id))?.status === 'completed', 5_000);
    const finished = await b.registry.interject(stream.id, 'late').catch((error: unknown) => error);
    expect(finished).toBeInstanceOf(StreamFinishedError);
    expect((finished as StreamFinishedError).statusCode).toBe(409);
  });

  test('cancel from B still works beside requests', async () => {
    const [a, b] = instances(2);
    const stream = a.registry.create(async ({ signal }: ProducerContext) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
    });
    await stream.whenShared();
    expect(await b.registry.interject(stream.id, 'hi')).toEqual({ queuedBytes: 2 });
    await expect(b.registry.cancel(stream.id, 'user')).resolves.toBe('cancelled');
    await expect(b.registry.interject(stream.id, 'late')).rejects.toBeInstanceOf(StreamFinishedError);
  });
});
