import { HttpException, HttpStatus, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { StreamNotFoundError } from '../core/errors.js';
import { StreamRegistry } from '../core/stream-registry.js';
import { readLastEventId } from './last-event-id.js';
import { SseConnectionTracker } from './sse-connection-tracker.js';
import { DEFAULT_STREAM_ID_PARAM, STREAM_ID_PARAM_METADATA } from './streaming.constants.js';

/**
 * Answered (204 No Content) to a client that has already received the final event of a finished
 * stream: the SSE spec's way to tell EventSource to stop reconnecting.
 */
export class StreamFullyDeliveredException extends HttpException {
  constructor() {
    super('The stream has finished and this client has received all of it.', HttpStatus.NO_CONTENT);
  }
}

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
 * served from it; with a bus, one produced on another instance is followed. Put it on every
 * `@Sse()` route that serves a stream (`@ResumableSse()` does); Nest answers errors thrown later
 * with a 200 event stream carrying `event: error`.
 *
 * The stream id comes from the route parameter `id`, or the one named by `@StreamIdParam()`.
 */
@Injectable()
export class StreamGuard implements CanActivate {
  constructor(
    private readonly registry: StreamRegistry,
    private readonly reflector: Reflector,
    private readonly connections: SseConnectionTracker,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<GuardedRequest>();
    const param =
      this.reflector.getAllAndOverride<string | undefined>(STREAM_ID_PARAM_METADATA, [
        context.getHandler(),
        context.getClass(),
      ]) ?? DEFAULT_STREAM_ID_PARAM;
    const id = request.params?.[param] ?? '';
    const lastEventId = readLastEventId(request);
    // From memory, from another instance through the bus, or back from the store.
    const stream = await this.registry.locate(id, lastEventId);
    // A refusal looks exactly like an unknown stream, so ids cannot be probed.
    if (!stream || !(await this.registry.isAuthorized(request, stream))) throw new StreamNotFoundError(id);
    stream.resolveResume(lastEventId);
    if (stream.isFullySeenBy(lastEventId)) throw new StreamFullyDeliveredException();
    stream.assertClientCapacity();
    this.connections.track(http.getResponse());
    return true;
  }
}
