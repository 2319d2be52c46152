import { afterEach, describe, expect, test } from '@jest/globals';
import { InvalidStreamInputError, StreamMetadataError } from '../../lib/core/errors.js';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import type { CatchupFunction } from '../../lib/core/options.js';
import type { StreamProducer } from '../../lib/core/producer.js';
import { StreamRegistry, type StreamRegistryOptions } from '../../lib/core/stream-registry.js';

let registries: StreamRegistry[] = [];
function instance(options: StreamRegistryOptions = {}): StreamRegistry {
  const registry = new StreamRegistry({ heartbeatMs: 0, activeKeys: ['chatId'], ...options });
  registries.push(registry);
  return registry;
}

afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
  registries = [];
});

/** Runs until its signal aborts, or until `release()`. */
function held() {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  const producer: StreamProducer = async ({ signal, send }) => {
    send({ data: 'first' });
    await Promise.race([done, new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
  };
  return { producer, release: () => release() };
}

const blocks: CatchupFunction = async () => [];

describe('create({ metadata }) on one registry', () => {
  test('is read back as stream.metadata, a frozen copy; {} without any', () => {
    const registry = instance();
    const given = { chatId: 'c1', userId: 'u1', tags: ['a', { b: null }], n: 1.5, ok: true };
    const stream = registry.create(undefined, { metadata: given });
    given.userId = 'changed';
    expect(stream.metadata).toEqual({ chatId: 'c1', userId: 'u1', tags: ['a', { b: null }], n: 1.5, ok: true });
    expect(Object.isFrozen(stream.metadata)).toBe(true);
    expect(Object.isFrozen(stream.metadata.tags)).toBe(true);
    expect(registry.create().metadata).toEqual({});
  });

  test.each([
    ['an array', ['c1']],
    ['a string', 'c1'],
    ['a Date', new Date()],
    ['a class instance', new (class Chat {})()],
    ['a function inside', { chatId: () => 'c1' }],
    ['NaN inside', { n: Number.NaN }],
    ['a Date inside', { at: new Date() }],
    ['undefined inside', { chatId: undefined }],
  ])('refuses %s with a 400 that names the fix', (_what, metadata) => {
    const registry = instance();
    const thrown = (() => {
      try {
        registry.create(undefined, { metadata: metadata as never });
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(StreamMetadataError);
    expect(thrown).toMatchObject({ statusCode: 400, code: 'INVALID_STREAM_METADATA' });
    expect((thrown as Error).message).toMatch(/plain JSON/);
    expect(registry.stats().streams).toBe(0);
  });

  test('refuses a cycle (400) and metadata over 4 KiB (413, naming the fix)', () => {
    const registry = instance();
    const cyclic: Record<string, unknown> = { chatId: 'c1' };
    cyclic.self = cyclic;
    expect(() => registry.create(undefined, { metadata: cyclic as never })).toThrow(/refers back to itself/);
    const big = { chatId: 'c1', notes: 'x'.repeat(4096) };
    expect(() => registry.create(undefined, { metadata: big })).toThrow(
      expect.objectContaining({ statusCode: 413, message: expect.stringMatching(/more than 4096.*your own database/) }),
    );
    expect(registry.create(undefined, { metadata: { notes: 'x'.repeat(4000) } }).metadata.notes).toHaveLength(4000);
  });

  test('an indexed field (activeKeys) must be a string', () => {
    const registry = instance();
    expect(() => registry.create(undefined, { metadata: { chatId: 42 } })).toThrow(StreamMetadataError);
    expect(registry.create(undefined, { metadata: { other: 42 } }).metadata.other).toBe(42);
  });

  test('findActive() finds the running stream by an indexed field, and not once it finished', async () => {
    const registry = instance();
    const { producer, release } = held();
    const stream = registry.create(producer, { metadata: { chatId: 'c1', userId: 'u1' } });
    registry.create(undefined, { metadata: { chatId: 'c2' } });
    expect(await registry.findActive({ chatId: 'c1' })).toBe(stream);
    expect(await registry.findActive({ chatId: 'c1', userId: 'u1' })).toBe(stream);
    expect(await registry.findActive({ chatId: 'c1', userId: 'someone else' })).toBeUndefined();
    expect(await registry.findActive({ chatId: 'none' })).toBeUndefined();
    release();
    await stream.whenFinished();
    expect(await registry.findActive({ chatId: 'c1' })).toBeUndefined();
    // Still held (retention), but not active.
    expect(registry.get(stream.id)).toBe(stream);
  });

  test('findActive() needs a field among activeKeys, and says so', async () => {
    const registry = instance();
    await expect(registry.findActive({ userId: 'u1' })).rejects.toThrow(InvalidStreamInputError);
    await expect(registry.findActive({ userId: 'u1' })).rejects.toThrow(/activeKeys/);
  });

  test('a named catchup or authorize must be registered', () => {
    const registry = instance({ catchups: { blocks } });
    expect(registry.create(undefined, { catchup: 'blocks' }).options.catchup).toBe(blocks);
    expect(() => registry.create(undefined, { catchup: 'nope' })).toThrow(/no catchup named "nope"/);
    expect(() => registry.create(undefined, { authorize: 'nope' })).toThrow(/no authorizer named "nope"/);
  });
});

describe('metadata and options across two registries on one bus', () => {
  test("B sees A's metadata, portable options and named hooks; functions stay on A", async () => {
    const bus = new InProcessStreamBus();
    const seen: unknown[] = [];
    const named = {
      catchups: { blocks },
      authorizers: {
        owner: (request: unknown, stream: { metadata: Record<string, unknown> }) =>
          (request as { user: string }).user === stream.metadata.userId,
      },
    };
    const authorize = (_request: unknown, stream: { metadata: unknown }) => (seen.push(stream.metadata), true);
    const a = instance({ bus, ...named, authorize });
    const b = instance({ bus, ...named, authorize });
    const { producer, release } = held();
    const metadata = { chatId: 'c1', userId: 'u1' };
    const options = {
      metadata,
      retryMs: 1234,
      eventTypes: { done: 'finished' },
      catchup: 'blocks',
      authorize: 'owner',
    };
    const stream = a.create(producer, options);
    const direct = a.create(undefined, { catchup: blocks, authorize: () => false });
    await Promise.all([stream.whenShared(), direct.whenShared()]);

    const followed = (await b.locate(stream.id))!;
    expect(followed.follower).toBe(true);
    expect(followed.metadata).toEqual(metadata);
    expect(followed.options).toMatchObject({ retryMs: 1234, catchup: blocks });
    expect(followed.options.eventTypes.done).toBe('finished');
    expect(await b.isAuthorized({ user: 'u1' }, followed)).toBe(true);
    expect(await b.isAuthorized({ user: 'u2' }, followed)).toBe(false);
    expect(seen).toContainEqual(metadata);

    // Functions given directly do not travel: B falls back to its own defaults.
    const other = (await b.locate(direct.id))!;
    expect(other.options.catchup).toBeUndefined();
    expect(await b.isAuthorized({ user: 'u1' }, other)).toBe(true);

    const found = await b.findActive({ chatId: 'c1' });
    expect(found).toBe(followed);
    release();
    await followed.whenFinished();
    expect(await b.findActive({ chatId: 'c1' })).toBeUndefined();
    await stream.whenFinished();
    expect(await a.findActive({ chatId: 'c1' })).toBeUndefined();
  });

  test('an authorize name this instance does not know refuses everyone', async () => {
    const bus = new InProcessStreamBus();
    const a = instance({ bus, authorizers: { owner: () => true } });
    const b = instance({ bus });
    const stream = a.create(undefined, { authorize: 'owner' });
    await stream.whenShared();
    const followed = (await b.locate(stream.id))!;
    expect(await b.isAuthorized({}, followed)).toBe(false);
  });
});
