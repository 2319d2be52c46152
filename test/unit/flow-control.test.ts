import { describe, expect, jest, test } from '@jest/globals';
import type { FlowControl } from '../../lib/core/flow-control.js';
import type { StreamLogger } from '../../lib/core/logger.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { range, record } from './helpers.js';

/** A consumer whose backpressure the test controls; drain() fires the pending onceWritable listeners. */
function fakeFlow(backedUp = false) {
  const flow = {
    backedUp,
    waiters: new Set<() => void>(),
    cancels: 0,
    aborts: 0,
    isBackedUp: () => flow.backedUp,
    onceWritable(listener: () => void) {
      flow.waiters.add(listener);
      return () => {
        flow.cancels++;
        flow.waiters.delete(listener);
      };
    },
    abort: () => void flow.aborts++,
    drain() {
      const waiting = [...flow.waiters];
      flow.waiters.clear();
      for (const listener of waiting) listener();
    },
  };
  return flow satisfies FlowControl;
}

const noBeat = { heartbeat: false } as const;

describe('observe() with flow control', () => {
  test('a backed-up consumer gets one event per writable signal, then flows freely', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    for (let i = 1; i <= 5; i++) stream.send({ data: i });
    const flow = fakeFlow(true);
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: flow }));
    expect(client.messages).toEqual([stream.eventAt(1)]);
    expect(flow.waiters.size).toBe(1);
    flow.drain();
    expect(client.sequences).toEqual([1, 2]);
    flow.backedUp = false;
    flow.drain();
    expect(client.sequences).toEqual([1, 2, 3, 4, 5]);
    expect(flow.waiters.size).toBe(0);
    stream.send({ data: 6 });
    expect(client.sequences).toEqual(range(1, 6));
    // With retryMs the position marker comes first and does not use up the writable signal.
    const marked = registry.create(undefined, { retryMs: 1000 });
    for (let i = 1; i <= 2; i++) marked.send({ data: i });
    const markedFlow = fakeFlow(true);
    const markedClient = record(marked.observe(undefined, { ...noBeat, flowControl: markedFlow }));
    expect(markedClient.messages).toEqual([{ id: `${marked.epoch}-0`, retry: 1000 }, marked.eventAt(1)]);
    markedFlow.drain();
    expect(markedClient.sequences).toEqual([1, 2]);
  });

  test('a consumer backed up one event before the end of a finished stream still gets the final event', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    for (let i = 1; i <= 3; i++) stream.send({ data: i });
    stream.complete();
    const flow = fakeFlow(true);
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: flow }));
    for (const delivered of [[1], [1, 2], [1, 2, 3]]) {
      expect([client.sequences, client.completed, flow.waiters.size]).toEqual([delivered, false, 1]);
      flow.drain();
    }
    expect([client.sequences, client.completed, flow.aborts]).toEqual([[1, 2, 3, 4], true, 0]);
    expect(client.events.at(-1)!.type).toBe('done');
  });

  test('a large catch-up is handed over in bursts of 64 KiB even when the consumer is not backed up', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    for (let i = 1; i <= 10; i++) stream.send({ data: 'x'.repeat(10_000) });
    const flow = fakeFlow(false);
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: flow }));
    expect(client.sequences).toEqual(range(1, 7));
    expect(flow.waiters.size).toBe(1);
    flow.drain();
    expect(client.sequences).toEqual(range(1, 10));
    expect(flow.waiters.size).toBe(0);
  });

  test('live events missed while backed up past maxClientBacklogBytes cut the client and abort the consumer', () => {
    const log: StreamLogger = { log: jest.fn(), warn: jest.fn(), error: jest.fn() };
    const registry = new StreamRegistry({ heartbeatMs: 0, logger: log, maxClientBacklogBytes: 100 });
    const stream = registry.create();
    const flow = fakeFlow(true);
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: flow }));
    stream.send({ data: 'x'.repeat(10) });
    stream.send({ data: 'x'.repeat(90) });
    stream.send({ data: 'x'.repeat(10) });
    // Exactly 100 bytes missed since it backed up: still within the bound.
    expect([client.completed, flow.aborts]).toEqual([false, 0]);
    stream.send({ data: 'x' });
    expect(client.sequences).toEqual([1]);
    expect(client.completed).toBe(true);
    expect(client.error).toBeUndefined();
    expect([flow.aborts, flow.cancels, flow.waiters.size]).toEqual([1, 1, 0]);
    expect(registry.stats()).toMatchObject({ clients: 0, slowClientDisconnects: 1 });
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(String(jest.mocked(log.warn).mock.calls[0][0])).toContain(`Stream ${stream.id}: cut a client`);
  });

  test('unsubscribing while waiting cancels the wait; the final event waits for the consumer', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    stream.send({ data: 1 });
    stream.send({ data: 2 });
    const leaving = fakeFlow(true);
    const gone = record(stream.observe(undefined, { ...noBeat, flowControl: leaving }));
    gone.subscription.unsubscribe();
    expect([leaving.cancels, leaving.waiters.size, leaving.aborts]).toEqual([1, 0, 0]);
    const staying = fakeFlow(true);
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: staying }));
    stream.complete();
    expect([client.sequences, client.completed]).toEqual([[1], false]);
    staying.backedUp = false;
    staying.drain();
    expect([client.sequences, client.completed]).toEqual([[1, 2, 3], true]);
    expect(stream.clientCount).toBe(0);
  });

  test('a flow control whose onceWritable calls back at once works during the replay', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    for (let i = 1; i <= 3; i++) stream.send({ data: i });
    let backedUpOnce = true;
    const immediate: FlowControl = {
      isBackedUp: () => {
        const answer = backedUpOnce;
        backedUpOnce = false;
        return answer;
      },
      onceWritable: (listener) => {
        listener();
        return () => {};
      },
      abort: () => {},
    };
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: immediate }));
    expect(client.error).toBeUndefined();
    expect(client.sequences).toEqual([1, 2, 3]);
  });

  test('a flow control whose onceWritable calls back at once does not stall a live client', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0 });
    const stream = registry.create();
    let backedUpOnce = true;
    const immediate: FlowControl = {
      isBackedUp: () => {
        const answer = backedUpOnce;
        backedUpOnce = false;
        return answer;
      },
      onceWritable: (listener) => {
        listener();
        return () => {};
      },
      abort: () => {},
    };
    const client = record(stream.observe(undefined, { ...noBeat, flowControl: immediate }));
    stream.send({ data: 1 });
    stream.send({ data: 2 });
    stream.complete();
    expect(client.sequences).toEqual([1, 2, 3]);
    expect(client.completed).toBe(true);
  });
});
