import { applyDecorators, Get, Res, SetMetadata, Sse, UseGuards, UseInterceptors } from '@nestjs/common';
import { DirectSseInterceptor } from './direct-sse.interceptor.js';
import { StreamFlowInterceptor } from './stream-flow.interceptor.js';
import { StreamResponseInterceptor } from './stream-response.interceptor.js';
import { STREAM_ID_PARAM_METADATA, STREAM_RESPONSE_METADATA } from './streaming.constants.js';
import { StreamGuard } from './stream.guard.js';

/** Names the route parameter that holds the stream id, for `StreamGuard` (default `id`). */
export const StreamIdParam = (name: string) => SetMetadata(STREAM_ID_PARAM_METADATA, name);

/** Options of {@link ResumableSse}. */
export interface ResumableSseOptions {
  /** Route parameter holding the stream id. Default `id`. */
  readonly param?: string;
  /** With `pipeline: 'nest'`, passed to `@Sse()`: Nest's cap on characters queued for a client. Default 4 MiB. */
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
 * Where Nest hands the direct path the response (as if the handler had a `@Res()` parameter
 * there): past any real parameter, so the handler's own signature is untouched. A handled
 * response is one Nest does not send a body for once the handler's Observable has emitted.
 */
const RESPONSE_ARGUMENT_INDEX = 32;

function RespondsItself(): MethodDecorator {
  return (target, key, descriptor) => {
    Res({ passthrough: false })(target, key, RESPONSE_ARGUMENT_INDEX);
    return descriptor;
  };
}

/**
 * A route that serves a stream: `StreamGuard` answers 404 / 400 / 204 / 503 before the event
 * stream starts, then events are written to the socket as shared frames, catch-up paced by the
 * client's connection. The handler returns `registry.observe(id, lastEventId)`.
 *
 * By default (`pipeline: 'direct'`) it is `@Get(path)` + `@UseGuards(StreamGuard)` +
 * `@UseInterceptors(DirectSseInterceptor)`, which takes the response over once the stream
 * starts; with `pipeline: 'nest'` it is `@Sse(path)` + `@UseGuards(StreamGuard)` +
 * `@UseInterceptors(StreamFlowInterceptor)`. `param` adds `@StreamIdParam(param)`.
 */
export function ResumableSse(path: string, options: ResumableSseOptions = {}): MethodDecorator {
  const throughNest = options.pipeline === 'nest';
  const maxPendingDataLength = options.maxPendingDataLength;
  const decorators = throughNest
    ? [
        Sse(path, maxPendingDataLength === undefined ? undefined : { maxPendingDataLength }),
        UseGuards(StreamGuard),
        UseInterceptors(StreamFlowInterceptor),
      ]
    : [Get(path), RespondsItself(), UseGuards(StreamGuard), UseInterceptors(DirectSseInterceptor)];
  if (options.param) decorators.push(StreamIdParam(options.param));
  return applyDecorators(...decorators);
}

/** Options of {@link StreamResponse}. */
export interface StreamResponseOptions {
  /**
   * The wire format. `sse` (default): the library's SSE, as `@ResumableSse()` writes it.
   * `ui-message-stream`: the Vercel AI SDK's UI message stream (header
   * `x-vercel-ai-ui-message-stream: v1`, one UI message chunk per `data:` line, `data: [DONE]`
   * at the end; the final `error` / `cancelled` events as `error` / `abort` chunks), which
   * `useChat`'s `DefaultChatTransport` reads. Event ids are kept for `Last-Event-ID`.
   */
  readonly format?: 'sse' | 'ui-message-stream';
}

/**
 * A route whose handler returns the stream to serve (or a promise of it): put it with `@Post()`,
 * `@Get()`, ... The stream is served from the request's `Last-Event-ID`, from its first event
 * without one; `undefined` or `null` answers 204. For a handler that starts a stream and answers
 * with it (the AI SDK's `POST /api/chat`), or finds one by a key of its own (its
 * `GET /api/chat/:chatId/stream`). Unlike `@ResumableSse()` it has no `StreamGuard`: the handler
 * finds the stream (`registry.locate(id)`, which follows one produced on another instance) and
 * decides who may see it.
 *
 * ```ts
 * @Post()
 * @StreamResponse({ format: 'ui-message-stream' })
 * chat(@Body() body: { messages: UIMessage[] }) {
 *   return this.registry.create(streamText({ model, messages: ... }).toUIMessageStream());
 * }
 * ```
 */
export function StreamResponse(options: StreamResponseOptions = {}): MethodDecorator {
  return applyDecorators(
    SetMetadata(STREAM_RESPONSE_METADATA, options.format ?? 'sse'),
    RespondsItself(),
    UseInterceptors(StreamResponseInterceptor),
  );
}
