import type { ServerResponse } from 'node:http';
import { Injectable, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { StreamRegistry, type StreamAdmission } from '../core/stream-registry.js';
import { setResumeHeader } from '../http/resume-header.js';
import { readLastEventId } from './last-event-id.js';
import { nodeResponseOf } from './node-response.js';
import { SseConnectionTracker } from './sse-connection-tracker.js';
import { setAdmission } from './stream-admission.js';
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
 * `Retry-After`, from `StreamErrorFilter`); finished and fully seen -> 204. With a store, a stream
 * that left memory is served from it; with a bus, one produced on another instance is followed.
 * What it decided (the stream and where the client continues) is left on the request, for the
 * route (`@AdmittedStream()`) and the writer, and how the client is resumed is set as the
 * `Meridian-Resume` response header. `@ResumableSse()` applies it.
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
    const admission = this.registry.admit(id, readLastEventId(request), request);
    const response: unknown = context.getArgByIndex(1);
    // Decided at once when it can be: Nest awaits a guard's promise through several more turns.
    if (!(admission instanceof Promise)) return this.let(request, response, admission);
    return admission.then((admitted) => this.let(request, response, admitted));
  }

  private let(request: object, response: unknown, admission: StreamAdmission): true {
    setAdmission(request, admission);
    // Decided here, once, for every route the guard serves (a plain `@Sse()` too).
    const raw = nodeResponseOf<ServerResponse>(response, 'once');
    if (raw) setResumeHeader(raw, admission.point);
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
