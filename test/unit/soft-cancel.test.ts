import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from '@jest/globals';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import type { ProducerContext } from '../../lib/core/producer.js';
import { StreamProducedElsewhereError } from '../../lib/core/errors.js';
import { eventually, within } from '../support/eventually.js';
import { finishHookedRegistries, record } from './helpers.js';

const instance = finishHookedRegistries();

/**
 * A provider that bills on regardless: sends one delta, waits for the soft cancel, then still
 * "reads the rest of the answer" (sends that must be dropped) and returns its token counts.
 */
function billingProducer() {
  const seen = {
    reason: undefined as string | undefined,
    abortedAtSoftCancel: undefined as boolean | undefined,
    flag: undefined as boolean | undefined,
  };
  const afterSends: unknown[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const producer = async (context: ProducerContext) => {
    const { send, signal, onSoftCancel } = context;
    send({ type: 'delta', data: 'Hello' });
    await new Promise<void>((resolve) =>
      onSoftCancel((reason) => {
        seen.reason = reason;
        seen.abortedAtSoftCancel = signal.aborted;
        resolve();
      }),
    );
    seen.flag = context.softCancelled;
    for (const word of [' world', '!']) afterSends.push(send({ type: 'delta', data: word }));
    await released;
    afterSends.push(send({ type: 'delta', data: 'late' }));
    return { inputTokens: 3, outputTokens: 7 };
  };
  return { producer, seen, afterSends, release };
}

const parsed = (data: string) => JSON.parse(data) as Record<string, unknown>;

describe('soft cancel: one instance', () => {
  test('clients get the final cancelled event (soft) at once; the producer runs on, unheard, and its result reaches the hook', async () => {
    const { registry, calls } = instance();
    const { producer, seen, afterSends, release } = billingProducer();
    const stream = registry.create(producer);
    const client = record(stream.observe(undefined, { heartbeat: false }));
    await eventually(() => stream.lastSequence === 1, 1_000);

    expect(stream.softCancel('user pressed stop')).toBe(true);
    await eventually(() => client.completed, 1_000);
    expect(client.events.map((e) => e.type)).toEqual(['delta', 'cancelled']);
    expect(parsed(client.events[1].data)).toEqual({ status: 'cancelled', reason: 'user pressed stop', soft: true });
    expect(stream.state).toBe('cancelled');
    await eventually(() => afterSends.length === 2, 1_000);
    expect(seen).toEqual({ reason: 'user pressed stop', abortedAtSoftCancel: false, flag: true });
    expect(stream.signal.aborted).toBe(false);
    expect(afterSends).toEqual([undefined, undefined]);
    expect(calls).toHaveLength(0);

    release();
    await within(stream.whenFinished(), 1_000, () => 'not finished after the producer returned');
    expect(afterSends).toEqual([undefined, undefined, undefined]);
    expect(stream.lastSequence).toBe(2);
    expect(calls).toEqual([
      expect.objectContaining({ state: 'cancelled', error: undefined, result: { inputTokens: 3, outputTokens: 7 } }),
    ]);
  });

  test('idempotent: again, or a hard cancel after it, changes nothing and does not abort the producer', async () => {
    const { registry } = instance();
    const { producer, release } = billingProducer();
    const stream = registry.create(producer);
    await eventually(() => stream.lastSequence === 1, 1_000);
    await expect(registry.softCancel(stream.id, 'first')).resolves.toBe('cancelled');
    expect(stream.softCancel('second')).toBe(false);
    await expect(registry.softCancel(stream.id)).resolves.toBe('cancelled');
    await expect(registry.cancel(stream.id)).resolves.toBe('cancelled');
    expect(stream.signal.aborted).toBe(false);
    expect(stream.lastSequence).toBe(2);
    expect(parsed(stream.eventAt(2)!.data).reason).toBe('first');
    release();
    await stream.whenFinished();
  });

  test('a finished stream answers its state; a soft-cancelled producer is aborted when the stream is removed', async () => {
    const { registry } = instance();
    const done = registry.create(async ({ send }) => void send({ data: 'x' }));
    await done.whenFinished();
    await expect(registry.softCancel(done.id)).resolves.toBe('completed');
    expect(done.lastSequence).toBe(2);

    const { producer } = billingProducer();
    const stream = registry.create(producer);
    await eventually(() => stream.lastSequence === 1, 1_000);
    stream.softCancel();
    expect(stream.signal.aborted).toBe(false);
    // Dropped (retention ended, remove(), shutdown): the producer is told it is no longer wanted.
    registry.remove(stream.id);
    expect(stream.signal.aborted).toBe(true);
  });

  test('the producer that throws after a soft cancel: the hook gets its error', async () => {
    const { registry, calls } = instance();
    const thrown = new Error('the provider failed while we were draining it');
    const stream = registry.create(async ({ onSoftCancel }) => {
      await new Promise<void>((resolve) => onSoftCancel(() => resolve()));
      throw thrown;
    });
    stream.softCancel();
    await within(stream.whenFinished(), 1_000, () => 'not finished');
    expect(stream.state).toBe('cancelled');
    expect(calls).toHaveLength(1);
    expect(calls[0].error).toBe(thrown);
  });
});

describe('soft cancel: two instances on one bus', () => {
  test('B soft-cancels a stream produced on A: every client ends with the soft event, A runs on, nothing after it anywhere', async () => {
    const bus = new InProcessStreamBus();
    const [a, b, c] = [instance({ bus }), instance({ bus }), instance({ bus })];
    const { producer, seen, afterSends, release } = billingProducer();
    const stream = a.registry.create(producer);
    await stream.whenShared();
    const onA = record(stream.observe(undefined, { heartbeat: false }));
    const onC = record((await c.registry.locate(stream.id))!.observe(undefined, { heartbeat: false }));
    await eventually(() => onC.events.length === 1, 1_000);
    expect(() => c.registry.get(stream.id)!.softCancel()).toThrow(StreamProducedElsewhereError);

    await expect(b.registry.softCancel(stream.id, 'stop')).resolves.toBe('cancelled');
    await eventually(() => onA.completed && onC.completed, 2_000);
    await eventually(() => afterSends.length === 2, 1_000);
    expect(seen).toEqual({ reason: 'stop', abortedAtSoftCancel: false, flag: true });
    expect(afterSends).toEqual([undefined, undefined]);
    release();
    await within(stream.whenFinished(), 1_000, () => 'not finished on A');

    const history = onA.events.map((e) => [e.id, e.type, e.data]);
    expect(history.map(([, type]) => type)).toEqual(['delta', 'cancelled']);
    expect(parsed(onA.events[1].data)).toEqual({ status: 'cancelled', reason: 'stop', soft: true });
    expect(onC.events.map((e) => [e.id, e.type, e.data])).toEqual(history);
    expect((await bus.read(stream.id, 0, 10)).map((e) => e.type)).toEqual(['delta', 'cancelled']);
    expect(a.calls).toEqual([
      expect.objectContaining({ state: 'cancelled', result: { inputTokens: 3, outputTokens: 7 } }),
    ]);
    expect(b.calls).toHaveLength(0);
    expect(c.calls).toHaveLength(0);
    await expect(b.registry.softCancel(stream.id)).resolves.toBe('cancelled');
  });

  test('an unknown id rejects with StreamNotFoundError', async () => {
    const bus = new InProcessStreamBus();
    const { registry } = instance({ bus });
    await expect(registry.softCancel('nobody-has-it')).rejects.toMatchObject({ statusCode: 404 });
  });
});

test('a shared stream soft-cancelled while its events wait for the bus: the producer is still not aborted', async () => {
  const bus = new InProcessStreamBus();
  const { registry } = instance({ bus });
  const { producer, release } = billingProducer();
  const stream = registry.create(producer);
  await eventually(() => stream.lastSequence === 1, 1_000);
  stream.softCancel();
  await sleep(10);
  expect(stream.state).toBe('cancelled');
  expect(stream.signal.aborted).toBe(false);
  release();
  await stream.whenFinished();
});
