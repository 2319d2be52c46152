import { Redis } from 'ioredis';
import { StreamRegistry, type ProducerContext, type StreamMetadata } from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { redisAvailable, uniquePrefix } from '../support/redis.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;

describeIfRedis('stream metadata across instances on the Redis bus', () => {
  let registries: StreamRegistry[] = [];
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(process.env.REDIS_URL!);
  });
  afterAll(() => admin.quit());
  afterEach(async () => {
    await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
    registries = [];
  });

  const seen: unknown[] = [];
  function instance(keyPrefix: string): StreamRegistry {
    const registry = new StreamRegistry({
      heartbeatMs: 0,
      bus: new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix }),
      activeKeys: ['chatId'],
      authorizers: {
        owner: (request, stream) => (request as { user?: string }).user === stream.metadata.userId,
      },
      authorize: (_request, stream) => (seen.push(stream.metadata), true),
    });
    registries.push(registry);
    return registry;
  }

  /** Sends one event, then runs until released or aborted. */
  function held() {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const producer = async ({ signal, send }: ProducerContext) => {
      send({ data: 'first' });
      await Promise.race([done, new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
    };
    return { producer, release: () => release() };
  }

  it('the follower reads the metadata, authorize sees it there, and findActive finds the running stream only', async () => {
    const keyPrefix = uniquePrefix();
    const [a, b] = [instance(keyPrefix), instance(keyPrefix)];
    const metadata: StreamMetadata = { chatId: 'chat-1', userId: 'u1', model: { name: 'x', temperature: 0.5 } };
    const first = held();
    const stream = a.create(first.producer, { metadata, authorize: 'owner', retryMs: 4321 });
    await stream.whenShared();

    const followed = (await b.locate(stream.id))!;
    expect(followed.follower).toBe(true);
    expect(followed.metadata).toEqual(metadata);
    expect(followed.options.retryMs).toBe(4321);
    expect(await b.isAuthorized({ user: 'u1' }, followed)).toBe(true);
    expect(await b.isAuthorized({ user: 'u2' }, followed)).toBe(false);
    expect(seen).toContainEqual(metadata);

    // The index key expires like every key the bus writes.
    const indexKey = `${keyPrefix}{active:chatId=chat-1}`;
    expect(await admin.get(indexKey)).toBe(stream.id);
    expect(await admin.pttl(indexKey)).toBeGreaterThan(0);

    const c = instance(keyPrefix);
    const found = await c.findActive({ chatId: 'chat-1' });
    expect(found?.id).toBe(stream.id);
    expect(found?.metadata).toEqual(metadata);
    expect(await c.findActive({ chatId: 'chat-1', userId: 'u2' })).toBeUndefined();
    expect(await c.findActive({ chatId: 'chat-2' })).toBeUndefined();

    first.release();
    await stream.whenFinished();
    await followed.whenFinished();
    expect(await b.findActive({ chatId: 'chat-1' })).toBeUndefined();
    expect(await instance(keyPrefix).findActive({ chatId: 'chat-1' })).toBeUndefined();
    // Dropped when the stream closed (or it would expire).
    for (let i = 0; i < 50 && (await admin.exists(indexKey)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await admin.exists(indexKey)).toBe(0);

    // The next turn of the chat, started on B, is found from A.
    const second = held();
    const next = b.create(second.producer, { metadata: { chatId: 'chat-1', userId: 'u1' } });
    await next.whenShared();
    expect((await a.findActive({ chatId: 'chat-1' }))?.id).toBe(next.id);
    second.release();
    await next.whenFinished();
  });

  it('findActive does not answer a stale index entry whose stream has finished', async () => {
    const keyPrefix = uniquePrefix();
    const [a, b] = [instance(keyPrefix), instance(keyPrefix)];
    const stream = a.create(undefined, { metadata: { chatId: 'stale' } });
    await stream.whenShared();
    stream.complete();
    await stream.whenFinished();
    // As if the drop was lost (an instance that died): the entry still names the finished stream.
    await admin.set(`${keyPrefix}{active:chatId=stale}`, stream.id, 'PX', 60_000);
    expect(await b.findActive({ chatId: 'stale' })).toBeUndefined();
  });
});
