import { afterEach, describe, expect, test } from '@jest/globals';
import { RegistryClosedError } from '../../lib/core/errors.js';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import type { StreamProducer } from '../../lib/core/producer.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { eventually, within } from '../support/eventually.js';
import { record } from './helpers.js';

let registries: StreamRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
  registries = [];
});

/** A (shut down in the test) and B (where clients resume) sharing one bus. */
function twoInstances() {
  const bus = new InProcessStreamBus();
  const a = new StreamRegistry({ heartbeatMs: 0, bus });
  const b = new StreamRegistry({ heartbeatMs: 0, bus });
  registries.push(a, b);
  return { a, b };
}

/** A producer that sends `first`, waits until `release()` (or its abort), then sends `last` and returns. */
function gated() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const seen: { signal?: AbortSignal } = {};
  const producer: StreamProducer = async ({ signal, send }) => {
    seen.signal = signal;
    send({ data: 'first' });
    await new Promise<void>((resolve) => {
      void gate.then(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    send({ data: 'last' });
  };
  return { producer, release, seen };
}

async function started(a: StreamRegistry, b: StreamRegistry, producer: StreamProducer) {
  const produced = a.create(producer);
  await produced.whenShared();
  const onA = record(produced.observe(undefined, { heartbeat: false }));
  const onB = record((await b.locate(produced.id))!.observe(undefined, { heartbeat: false }));
  await eventually(() => onA.events.length === 1 && onB.events.length === 1, 1_000);
  return { produced, onA, onB };
}

const finalOf = (client: ReturnType<typeof record>) => {
  const last = client.events.at(-1)!;
  return { type: last.type, data: JSON.parse(last.data) as unknown };
};

describe('registry.shutdown({ drainMs }): running producers may finish', () => {
  test('a producer that finishes within drainMs completes; local clients leave at once, without a final event', async () => {
    const { a, b } = twoInstances();
    const { producer, release } = gated();
    const { produced, onA, onB } = await started(a, b, producer);

    const shutdown = a.shutdown({ drainMs: 2_000, graceMs: 1_000 });
    // Let go at once (to resume elsewhere), not told the stream ended: it has not.
    expect(onA.completed).toBe(true);
    expect(onA.events.map((e) => e.data)).toEqual(['first']);
    expect(produced.state).toBe('running');
    // Nor may anyone attach here while it drains: they go to another instance.
    expect(() => a.observe(produced.id)).toThrow(RegistryClosedError);

    release();
    await within(shutdown, 1_500, () => 'shutdown did not return once the drained stream finished');
    expect(produced.state).toBe('completed');
    // The client on the other instance sees the whole stream end normally, with done.
    await eventually(() => onB.completed, 1_000);
    expect(onB.events.map((e) => e.type)).toEqual(['message', 'message', 'done']);
    expect(onB.events.map((e) => e.id)).toEqual([1, 2, 3].map((i) => `${produced.epoch}-${i}`));
  });

  test('a producer still running after drainMs is cancelled with reason shutdown', async () => {
    const { a, b } = twoInstances();
    const { producer, seen } = gated();
    const { produced, onA, onB } = await started(a, b, producer);
    const drainMs = 150;
    const begun = Date.now();
    await within(a.shutdown({ drainMs, graceMs: 1_000 }), 2_000, () => 'shutdown did not return');
    // Timers may fire a millisecond early by Date.now()'s rounding.
    expect(Date.now() - begun).toBeGreaterThanOrEqual(drainMs - 2);
    expect(seen.signal?.aborted).toBe(true);
    expect(produced.state).toBe('cancelled');
    expect(onA.events).toHaveLength(1);
    await eventually(() => onB.completed, 1_000);
    expect(finalOf(onB)).toEqual({ type: 'cancelled', data: { status: 'cancelled', reason: 'shutdown' } });
    // The producer's send after its abort reached nobody.
    expect(onB.events.map((e) => e.data)).not.toContain('last');
  });

  test('without drainMs, running streams are cancelled at once and local clients get the final event', async () => {
    const { a, b } = twoInstances();
    const { producer, seen } = gated();
    const { produced, onA, onB } = await started(a, b, producer);
    const shutdown = a.shutdown({ graceMs: 1_000 });
    expect(seen.signal?.aborted).toBe(true);
    await within(shutdown, 1_500, () => 'shutdown did not return');
    expect(produced.state).toBe('cancelled');
    const cancelled = { type: 'cancelled', data: { status: 'cancelled', reason: 'shutdown' } };
    expect(onA.completed).toBe(true);
    expect(finalOf(onA)).toEqual(cancelled);
    await eventually(() => onB.completed, 1_000);
    expect(finalOf(onB)).toEqual(cancelled);
    expect(onB.events.at(-1)!.id).toBe(onA.events.at(-1)!.id);
  });
});
