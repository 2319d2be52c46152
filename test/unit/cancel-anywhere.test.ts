import { afterEach, describe, expect, test } from '@jest/globals';
import { StreamNotFoundError } from '../../lib/core/errors.js';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import type { StreamProducer } from '../../lib/core/producer.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { eventually, within } from '../support/eventually.js';
import { record } from './helpers.js';

/** Instances side by side: registries sharing one in-process bus. */
let bus: InProcessStreamBus;
let registries: StreamRegistry[] = [];
function instance(): StreamRegistry {
  const registry = new StreamRegistry({ heartbeatMs: 0, bus });
  registries.push(registry);
  return registry;
}

afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
  registries = [];
});

/** Sends one event, then runs until its signal aborts; the signal is kept for the test. */
function untilAborted() {
  const seen: { signal?: AbortSignal } = {};
  const producer: StreamProducer = async ({ signal, send }) => {
    seen.signal = signal;
    send({ type: 'tick', data: 1 });
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  };
  return { producer, seen };
}

/** A client ends soon once its stream has finished (its final event delivered). */
const ended = (client: ReturnType<typeof record>) => eventually(() => client.completed, 2_000);

describe('registry.cancel() cancels a stream wherever it is produced', () => {
  test('B cancels a stream produced on A that it never saw: every client gets the same final event', async () => {
    bus = new InProcessStreamBus();
    const [a, b, c] = [instance(), instance(), instance()];
    const { producer, seen } = untilAborted();
    const produced = a.create(producer);
    await produced.whenShared();
    const onA = record(produced.observe(undefined, { heartbeat: false }));
    // A third instance follows it live, so the final event is seen arriving through the bus too.
    const onC = record((await c.locate(produced.id))!.observe(undefined, { heartbeat: false }));
    expect(b.has(produced.id)).toBe(false);

    await expect(b.cancel(produced.id, 'user asked')).resolves.toBe('cancelled');
    expect(seen.signal?.aborted).toBe(true);
    expect(produced.state).toBe('cancelled');
    await Promise.all([ended(onA), ended(onC)]);
    // B came to know the stream by cancelling it; a client there replays the same history.
    const onB = record(b.get(produced.id)!.observe(undefined, { heartbeat: false }));
    await ended(onB);

    const final = onA.events.at(-1)!;
    expect(final.type).toBe('cancelled');
    expect(JSON.parse(final.data)).toEqual({ status: 'cancelled', reason: 'user asked' });
    const history = onA.events.map((e) => [e.id, e.type, e.data]);
    expect(history).toHaveLength(2);
    expect(onB.events.map((e) => [e.id, e.type, e.data])).toEqual(history);
    expect(onC.events.map((e) => [e.id, e.type, e.data])).toEqual(history);
  });

  test('cancelling again, on A or on B, is harmless and resolves cancelled; one final event only', async () => {
    bus = new InProcessStreamBus();
    const [a, b] = [instance(), instance()];
    const produced = a.create(untilAborted().producer);
    await produced.whenShared();
    const onA = record(produced.observe(undefined, { heartbeat: false }));
    // Two at once from B: two control messages reach A; the second must not add an event.
    const both = await Promise.all([b.cancel(produced.id, 'first'), b.cancel(produced.id, 'second')]);
    expect(both).toEqual(['cancelled', 'cancelled']);
    await expect(b.cancel(produced.id)).resolves.toBe('cancelled');
    await expect(a.cancel(produced.id, 'late')).resolves.toBe('cancelled');
    await ended(onA);
    expect(onA.events.map((e) => e.type)).toEqual(['tick', 'cancelled']);
    expect(JSON.parse(onA.events[1].data).reason).toBe('first');
  });

  test('cancelling a completed stream resolves completed, here and from another instance', async () => {
    bus = new InProcessStreamBus();
    const [a, b] = [instance(), instance()];
    const produced = a.create(async ({ send }) => void send({ data: 'only' }));
    await within(produced.whenFinished(), 1_000, () => 'the producer did not complete');
    await expect(b.cancel(produced.id)).resolves.toBe('completed');
    await expect(a.cancel(produced.id)).resolves.toBe('completed');
    expect(produced.lastSequence).toBe(2);
    expect(b.get(produced.id)!.eventAt(2)!.type).toBe('done');
  });

  test('an id nobody knows rejects with StreamNotFoundError (404), with a bus or without', async () => {
    bus = new InProcessStreamBus();
    for (const registry of [instance(), new StreamRegistry({ heartbeatMs: 0 })]) {
      const error = await registry.cancel('nobody-has-it').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StreamNotFoundError);
      expect((error as StreamNotFoundError).statusCode).toBe(404);
    }
  });
});
