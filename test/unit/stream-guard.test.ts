import 'reflect-metadata';
import { describe, expect, test } from '@jest/globals';
import { HttpException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { StreamFullyDeliveredError, StreamNotFoundError } from '../../lib/core/errors.js';
import { StreamRegistry, type StreamRegistryOptions } from '../../lib/core/stream-registry.js';
import { SseConnectionTracker } from '../../lib/nest/sse-connection-tracker.js';
import { StreamGuard } from '../../lib/nest/stream.guard.js';

/*
 * StreamGuard's own decisions, without a route: every route in the other suites returns
 * `observe()`, which answers 204 (and 404, 400) itself, so there a guard that skipped its check
 * would go unnoticed. Here nothing but the guard runs.
 */

class Controller {}
function handler() {}

/** The guard of a `@Get(':id')` route, and a call of it as Nest makes one for a request. */
function guardOf(options: StreamRegistryOptions = {}) {
  const registry = new StreamRegistry({ heartbeatMs: 0, ...options });
  const guard = new StreamGuard(registry, new Reflector(), new SseConnectionTracker());
  const request = (id: string, lastEventId?: string) => {
    const args = [
      { params: { id }, headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId }, url: `/${id}` },
      {},
    ];
    const context = {
      getArgByIndex: (index: number) => args[index],
      getClass: () => Controller,
      getHandler: () => handler,
    } as unknown as ExecutionContext;
    // Sync or async, as the guard answers; a throw becomes a rejection either way.
    return (async () => guard.canActivate(context))();
  };
  return { registry, request };
}

/** The HTTP status the guard refused with (it must refuse). */
async function refusal(decision: Promise<boolean>): Promise<number> {
  const error = await decision.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (error instanceof HttpException) return error.getStatus();
  if (error instanceof StreamNotFoundError || error instanceof StreamFullyDeliveredError) return error.statusCode;
  throw new Error(`the guard admitted the request, or refused it with ${String(error)}`);
}

/** A finished stream with three events and its final one (sequence 4). */
function finishedStream(registry: StreamRegistry) {
  const stream = registry.create(undefined, { id: 'finished' });
  for (let i = 1; i <= 3; i++) stream.send({ data: i });
  stream.complete();
  return stream;
}

describe('StreamGuard', () => {
  test('answers 204 to a client that has the final event of a finished stream (decided at once, in memory)', async () => {
    const { registry, request } = guardOf();
    const stream = finishedStream(registry);
    await expect(request(stream.id, stream.lastEventId)).rejects.toBeInstanceOf(StreamFullyDeliveredError);
    expect(await refusal(request(stream.id, stream.lastEventId))).toBe(204);
    // One event short of the end, or no id at all: there is still something to send.
    await expect(request(stream.id, `${stream.epoch}-3`)).resolves.toBe(true);
    await expect(request(stream.id)).resolves.toBe(true);
  });

  test('answers 204 on the path that waits (an authorize hook), after asking it', async () => {
    const asked: string[] = [];
    const { registry, request } = guardOf({
      authorize: (_request, stream) => {
        asked.push(stream.id);
        return Promise.resolve(true);
      },
    });
    const stream = finishedStream(registry);
    expect(await refusal(request(stream.id, stream.lastEventId))).toBe(204);
    await expect(request(stream.id, `${stream.epoch}-3`)).resolves.toBe(true);
    expect(asked).toEqual([stream.id, stream.id]);
  });

  test('a running stream is never fully seen, and an unknown one is 404 (not 204)', async () => {
    const { registry, request } = guardOf();
    const running = registry.create(undefined, { id: 'running' });
    running.send({ data: 1 });
    await expect(request(running.id, running.lastEventId)).resolves.toBe(true);
    expect(await refusal(request('missing', `${running.epoch}-1`))).toBe(404);
  });
});
