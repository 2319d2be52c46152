import { Injectable, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { StreamFullyDeliveredError, StreamNotFoundError } from '../core/errors.js';
import { StreamRegistry } from '../core/stream-registry.js';
import type { ResumableStream } from '../core/stream.js';
import { readLastEventIdOnce } from './last-event-id.js';
import { SseConnectionTracker } from './sse-connection-tracker.js';
import { DEFAULT_STREAM_ID_PARAM, STREAM_ID_PARAM_METADATA } from './streaming.constants.js';

interface GuardedRequest {
  params?: Record<string, string>;
  headers?: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
}

/**
 * Decides before any SSE header is written, where an HTTP status can still be answered:
 * unknown stream, or one the request may not see (`authorize`) -> 404; malformed
 * `Last-Event-ID` or one ahead of the stream -> 400; capacity reached -> 503 (with
 * `Retry-After`, from `StreamErrorFilter`); finished and fully seen -> 204. With a store, a stream that left memory is
 * served from it; with a bus, one produced on another instance is followed. `@ResumableSse()`
 * applies it. A plain `@Sse()` route returning `registry.observe()` needs it wherever a store, a
 * bus or `authorize` is configured: `observe()` answers 404 / 400 / 204 / 503 itself, but it is
 * synchronous, so it sees only streams in memory, and it does not ask `authorize`.
 *
 * The stream id comes from the route parameter `id`, or the one named by `@StreamIdParam()`.
 */
@Injectable()
export class StreamGuard implements CanActivate {
  private readonly paramNames = new WeakMap<Type, WeakMap<Type, string>>();

  constructor(
    private readonly registry: StreamRegistry,
    private readonly reflector: Reflector,
    private readonly connections: SseConnectionTracker,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    // An HTTP context's arguments are (request, response, next). Read by index: `switchToHttp()`
    // adds three new closures to the context on every call, and this runs for every connection.
    const request = context.getArgByIndex<GuardedRequest>(0);
    const id = request.params?.[this.streamIdParam(context.getClass(), context.getHandler() as Type)] ?? '';
    const lastEventId = readLastEventIdOnce(request);
    // Most connections find their stream in memory with no hook to ask: decided at once, as Nest
    // awaits a guard's promise through several more turns of the microtask queue.
    const held = this.registry.locateInMemory(id, lastEventId);
    const response: unknown = context.getArgByIndex(1);
    if (held && !this.registry.hasAuthorization(held)) return this.admit(held, lastEventId, response);
    return this.locateAndAdmit(id, lastEventId, request, response);
  }

  private async locateAndAdmit(
    id: string,
    lastEventId: string | undefined,
    request: GuardedRequest,
    response: unknown,
  ): Promise<boolean> {
    // From memory, from another instance through the bus, or back from the store.
    const stream = await this.registry.locate(id, lastEventId);
    // A refusal looks exactly like an unknown stream, so ids cannot be probed.
    if (!stream || !(await this.registry.isAuthorized(request, stream))) throw new StreamNotFoundError(id);
    return this.admit(stream, lastEventId, response);
  }

  private admit(stream: ResumableStream, lastEventId: string | undefined, response: unknown): true {
    // Without an id there is nothing to refuse: a new client starts from the first event.
    if (lastEventId) {
      stream.resolveResume(lastEventId);
      if (stream.isFullySeenBy(lastEventId)) throw new StreamFullyDeliveredError(stream.id);
    }
    stream.assertClientCapacity();
    this.connections.track(response);
    return true;
  }

  /** The route parameter that names the stream; metadata does not change, so it is read once per route. */
  private streamIdParam(controller: Type, handler: Type): string {
    let params = this.paramNames.get(controller);
    if (!params) this.paramNames.set(controller, (params = new WeakMap()));
    const known = params.get(handler);
    if (known !== undefined) return known;
    const param =
      this.reflector.getAllAndOverride<string | undefined>(STREAM_ID_PARAM_METADATA, [handler, controller]) ??
      DEFAULT_STREAM_ID_PARAM;
    params.set(handler, param);
    return param;
  }
}
