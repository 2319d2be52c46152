import { applyDecorators, SetMetadata, Sse, UseGuards, UseInterceptors } from '@nestjs/common';
import { DirectSseInterceptor, StreamFlowInterceptor } from './stream-flow.interceptor.js';
import { STREAM_ID_PARAM_METADATA } from './streaming.constants.js';
import { StreamGuard } from './stream.guard.js';

/** Names the route parameter that holds the stream id, for `StreamGuard` (default `id`). */
export const StreamIdParam = (name: string) => SetMetadata(STREAM_ID_PARAM_METADATA, name);

/** Options of {@link ResumableSse}. */
export interface ResumableSseOptions {
  /** Route parameter holding the stream id. Default `id`. */
  readonly param?: string;
  /** Passed to Nest's `@Sse()`: Nest's own cap on characters queued for a client. Default 4 MiB. */
  readonly maxPendingDataLength?: number;
  /**
   * How events reach the response. `direct` (default): each event is framed once for all clients
   * and written straight to the socket (`DirectSseInterceptor`); interceptors see no events.
   * `nest`: events go through Nest's `@Sse()` Observable pipeline (`StreamFlowInterceptor`), for
   * interceptors that map or tap them.
   */
  readonly pipeline?: 'direct' | 'nest';
}

/**
 * `@Sse(path)` + `@UseGuards(StreamGuard)` + `@UseInterceptors(DirectSseInterceptor)`
 * (+ `@StreamIdParam()`) in one: a route that serves a stream with 404 / 400 / 204 answered
 * before the event stream starts, events written to the socket as shared frames, and catch-up
 * paced by the client's connection. The handler returns `registry.observe(id, lastEventId)`.
 */
export function ResumableSse(path: string, options: ResumableSseOptions = {}): MethodDecorator {
  const decorators = [
    Sse(
      path,
      options.maxPendingDataLength === undefined ? undefined : { maxPendingDataLength: options.maxPendingDataLength },
    ),
    UseGuards(StreamGuard),
    UseInterceptors(options.pipeline === 'nest' ? StreamFlowInterceptor : DirectSseInterceptor),
  ];
  if (options.param) decorators.push(StreamIdParam(options.param));
  return applyDecorators(...decorators);
}
