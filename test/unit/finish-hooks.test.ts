import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from '@jest/globals';
import { StreamProducerLostError } from '../../lib/core/errors.js';
import { InProcessStreamBus } from '../../lib/core/in-process-bus.js';
import type { StreamLogger } from '../../lib/core/logger.js';
import type { AppendOutcome, BusEvent } from '../../lib/core/stream-bus.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { eventually, within } from '../support/eventually.js';
import { finishHookedRegistries } from './helpers.js';

const instance = finishHookedRegistries();

function capturingLogger() {
  const errors: string[] = [];
  const logger: StreamLogger = { log: () => undefined, warn: () => undefined, error: (m) => void errors.push(m) };
  return { logger, errors };
}

/** Resolves `promise` and tells whether it had settled by the time the check ran. */
function settledFlag(promise: Promise<unknown>) {
  const flag = { settled: false };
  void promise.then(() => (flag.settled = true));
  return flag;
}

describe('finish hooks: one instance', () => {
  test('completed: called once with the work function result; whenFinished resolves at the same moment', async () => {
    const { registry, calls } = instance();
    let finishedWhenHookRan: boolean | undefined;
    const stream = registry.create(
      async ({ send }) => {
        send({ data: 'one' });
        return { tokens: 42 };
      },
      { onFinished: () => void (finishedWhenHookRan = settled.settled), metadata: { chatId: 'c1' } },
    );
    const settled = settledFlag(stream.whenFinished());
    await expect(within(stream.whenFinished(), 1_000, () => 'not finished')).resolves.toBe('completed');
    // The hooks ran before whenFinished() resolved, in the same turn.
    expect(finishedWhenHookRan).toBe(false);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ stream, state: 'completed', error: undefined, result: { tokens: 42 } });
    expect(calls[0].metadata).toEqual({ chatId: 'c1' });
    await sleep(20);
    expect(calls).toHaveLength(1);
  });

  test('failed: the error is the very object the producer threw', async () => {
    const { registry, calls } = instance();
    const thrown = new Error('provider said no');
    const stream = registry.create(async () => {
      throw thrown;
    });
    await expect(within(stream.whenFinished(), 1_000, () => 'not finished')).resolves.toBe('failed');
    expect(calls).toHaveLength(1);
    expect(calls[0].state).toBe('failed');
    expect(calls[0].error).toBe(thrown);
  });

  test('cancelled: called only once the aborted producer has really returned, with its result', async () => {
    const { registry, calls } = instance();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stream = registry.create(async ({ signal }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await released; // cleaning up after the abort takes a while
      return 'partial';
    });
    const finished = settledFlag(stream.whenFinished());
    await expect(registry.cancel(stream.id, 'stop')).resolves.toBe('cancelled');
    await expect(stream.whenEnded()).resolves.toBe('cancelled');
    await sleep(30);
    expect(calls).toHaveLength(0);
    expect(finished.settled).toBe(false);
    release();
    await within(stream.whenFinished(), 1_000, () => 'not finished after the producer returned');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ state: 'cancelled', error: undefined, result: 'partial' });
  });

  test('an AbortError from a cancelled wait is the reaction to the cancel, not an error', async () => {
    const { registry, calls } = instance();
    const stream = registry.create(async ({ signal }) => {
      await sleep(10_000, undefined, { signal });
    });
    stream.cancel();
    await within(stream.whenFinished(), 1_000, () => 'not finished');
    expect(calls).toEqual([expect.objectContaining({ state: 'cancelled', error: undefined })]);
  });

  test('a stream without producer: called when it ends; per-stream hook first, then the module-wide one', async () => {
    const order: string[] = [];
    const { registry } = instance({ onStreamFinished: () => void order.push('module') });
    const stream = registry.create(undefined, { onFinished: () => void order.push('stream') });
    stream.send({ data: 1 });
    stream.complete();
    await stream.whenFinished();
    expect(order).toEqual(['stream', 'module']);
  });

  test('hooks that throw or reject are logged; the others still run, nothing crashes', async () => {
    const { logger, errors } = capturingLogger();
    const calls: string[] = [];
    const { registry } = instance({
      logger,
      onStreamFinished: async () => {
        calls.push('module');
        throw new Error('module hook rejected');
      },
    });
    const stream = registry.create(async () => 'ok', {
      onFinished: () => {
        calls.push('stream');
        throw new Error('stream hook threw');
      },
    });
    await expect(stream.whenFinished()).resolves.toBe('completed');
    await eventually(() => errors.length === 2, 1_000);
    expect(calls).toEqual(['stream', 'module']);
    expect(errors.join('\n')).toMatch(/finish hook failed: stream hook threw/);
    expect(errors.join('\n')).toMatch(/finish hook failed: module hook rejected/);
  });

  test('a hook that is not a function is refused at once', () => {
    expect(() => new StreamRegistry({ onStreamFinished: 'nope' as never })).toThrow(/onStreamFinished/);
    const { registry } = instance();
    expect(() => registry.create(undefined, { onFinished: 1 as never })).toThrow(/onFinished/);
  });
});

describe('finish hooks: two instances on one bus', () => {
  test('cancelled from B: the hook runs on A (the producer) only, once', async () => {
    const bus = new InProcessStreamBus();
    const a = instance({ bus });
    const b = instance({ bus });
    const stream = a.registry.create(async ({ signal, send }) => {
      send({ data: 'tick' });
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return 'stopped';
    });
    await stream.whenShared();
    await b.registry.locate(stream.id);
    await expect(b.registry.cancel(stream.id)).resolves.toBe('cancelled');
    await within(stream.whenFinished(), 1_000, () => 'not finished on A');
    await within(b.registry.get(stream.id)!.whenFinished(), 1_000, () => 'not finished on B');
    expect(a.calls).toEqual([expect.objectContaining({ state: 'cancelled', result: 'stopped' })]);
    expect(b.calls).toHaveLength(0);
  });

  test('producer lost: called once the producer returned, with StreamProducerLostError', async () => {
    /** A bus on which another instance ended the stream: the next append is refused. */
    class RefusingBus extends InProcessStreamBus {
      refuse = false;
      override async append(streamId: string, events: readonly BusEvent[]): Promise<AppendOutcome> {
        if (!this.refuse) return super.append(streamId, events);
        const sequence = events[0].sequence;
        const data = '{"status":"failed","reason":"producer_lost"}';
        return { accepted: false, ending: [{ sequence, type: 'error', data, final: 'failed' }] };
      }
    }
    const bus = new RefusingBus();
    const { registry, calls } = instance({ bus });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stream = registry.create(async ({ send, signal }) => {
      send({ data: 'kept' });
      await sleep(20);
      bus.refuse = true;
      send({ data: 'refused' });
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await released;
      return 'late';
    });
    await within(stream.whenEnded(), 1_000, () => 'the refused stream did not end');
    expect(stream.state).toBe('failed');
    await sleep(20);
    expect(calls).toHaveLength(0);
    release();
    await within(stream.whenFinished(), 1_000, () => 'not finished');
    expect(calls).toHaveLength(1);
    expect(calls[0].state).toBe('failed');
    expect(calls[0].error).toBeInstanceOf(StreamProducerLostError);
    expect(calls[0].result).toBe('late');
  });
});
