import { describe, expect, test } from '@jest/globals';
import { type ProducerContext } from 'nestjs-meridian-stream';
import { eventually, within } from '../support/eventually.js';
import { redisAvailable, redisInstances } from '../support/redis.js';
import { record } from '../unit/helpers.js';

/*
 * Issue 24 across two instances on the shared Redis: two registries, each with its own
 * RedisStreamBus on one unique key prefix (nothing else in that Redis is touched).
 */
const maybe = redisAvailable() ? describe : describe.skip;

const instances = redisInstances();

maybe('soft cancel across instances (Redis)', () => {
  test('B soft-cancels a stream produced on A: A and B clients end with the soft event; A runs on, its result reaches its hook', async () => {
    const [a, b] = instances(2);
    const afterSends: unknown[] = [];
    const state = { abortedAtSoftCancel: undefined as boolean | undefined };
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stream = a.registry.create(async (context: ProducerContext) => {
      context.send({ type: 'delta', data: 'Hello' });
      await new Promise<void>((resolve) => context.onSoftCancel(() => resolve()));
      state.abortedAtSoftCancel = context.signal.aborted;
      afterSends.push(context.send({ type: 'delta', data: ' world' }));
      await released;
      afterSends.push(context.send({ type: 'delta', data: '!' }));
      return { outputTokens: 12 };
    });
    await stream.whenShared();
    const onA = record(stream.observe(undefined, { heartbeat: false }));
    const followed = await b.registry.locate(stream.id);
    const onB = record(followed!.observe(undefined, { heartbeat: false }));
    await eventually(() => onB.events.length === 1, 2_000);

    await expect(b.registry.softCancel(stream.id, 'stop')).resolves.toBe('cancelled');
    await eventually(() => onA.completed && onB.completed, 5_000);
    await eventually(() => afterSends.length === 1, 2_000);
    expect(state.abortedAtSoftCancel).toBe(false);
    expect(stream.signal.aborted).toBe(false);
    release();
    await within(stream.whenFinished(), 2_000, () => 'not finished on A');

    expect(afterSends).toEqual([undefined, undefined]);
    const history = onA.events.map((e) => [e.id, e.type, e.data]);
    expect(history.map(([, type]) => type)).toEqual(['delta', 'cancelled']);
    expect(JSON.parse(onA.events[1].data)).toEqual({ status: 'cancelled', reason: 'stop', soft: true });
    expect(onB.events.map((e) => [e.id, e.type, e.data])).toEqual(history);
    expect((await b.bus.read(stream.id, 0, 10)).map((e) => e.type)).toEqual(['delta', 'cancelled']);
    expect(a.calls).toEqual([expect.objectContaining({ state: 'cancelled', result: { outputTokens: 12 } })]);
    expect(b.calls).toHaveLength(0);
    // Idempotent from either side.
    await expect(b.registry.softCancel(stream.id)).resolves.toBe('cancelled');
    await expect(a.registry.softCancel(stream.id)).resolves.toBe('cancelled');
  });
});
