import { Injectable, Logger, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { SSE_METADATA } from '@nestjs/common/constants.js';
import { Observable, type Subscription } from 'rxjs';
import { runWithFlowControl } from '../core/flow-control.js';
import { formatSseMessage } from '../core/sse-frame.js';
import type { SseMessage } from '../core/stream-event.js';
import { writeSseHead, type HeadResponse } from './sse-response-head.js';
import {
  directResponseFlowControl,
  rawResponseOf,
  withFlowControl,
  type DirectRawResponse,
} from './stream-flow.interceptor.js';
import { responseFrameWriter, type ResponseFrameWriter } from './response-frame-writer.js';

interface TakenOverResponse extends DirectRawResponse, HeadResponse {
  end(): unknown;
}

interface Reply {
  hijack?(): unknown;
  getHeaders?(): Record<string, unknown>;
}

interface SocketRequest {
  method?: string;
  socket?: { setNoDelay?(noDelay: boolean): unknown; setKeepAlive?(on: boolean): unknown };
}

/**
 * The fast path, applied by `@ResumableSse()`: the route's guards, pipes and handler run as for
 * any route (errors thrown up to the first event reach the exception filters: 404, 400, 503),
 * then the interceptor takes the response over: it sends the SSE head itself and the stream
 * writes each event's frame, made once and shared by every client, straight to the socket,
 * paced by its backpressure and corked per event-loop turn. Nest's request lifecycle then ends,
 * so an open connection holds little more than its socket and its place in the stream.
 * Interceptors do not see the events; use `@ResumableSse(path, { pipeline: 'nest' })` for that.
 *
 * On a plain `@Sse()` route it lets Nest send the head and writes frames after it.
 */
@Injectable()
export class DirectSseInterceptor implements NestInterceptor {
  private readonly logger = new Logger('DirectSseInterceptor');

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const raw = rawResponseOf(context) as TakenOverResponse | undefined;
    if (!raw) return next.handle();
    if (Reflect.getMetadata(SSE_METADATA, context.getHandler()) === true) {
      return withFlowControl(directResponseFlowControl(raw, responseFrameWriter(raw)), next);
    }
    // (request, response) by index, as in StreamGuard: `switchToHttp()` adds three closures per call.
    return this.takeOver(raw, context.getArgByIndex<Reply>(1), context.getArgByIndex<SocketRequest>(0), next);
  }

  private takeOver(
    raw: TakenOverResponse,
    reply: Reply,
    request: SocketRequest,
    next: CallHandler,
  ): Observable<unknown> {
    return new Observable<unknown>((outer) => {
      let opened = false;
      // The stream attached a client that now owns the response.
      let owned = false;
      const open = () => {
        if (opened) return;
        opened = true;
        // Fastify must leave the raw response to us; Express needs nothing.
        reply.hijack?.();
        request.socket?.setNoDelay?.(true);
        request.socket?.setKeepAlive?.(true);
        writeSseHead(raw, reply === (raw as unknown) ? {} : reply.getHeaders?.());
        if (request.method === 'HEAD') raw.end();
        // Nest's part of the request ends here; the connection is the stream's.
        outer.next(undefined);
        outer.complete();
      };
      const frames = ownedResponseWriter(raw, () => {
        owned = true;
        open();
      });
      const flow = directResponseFlowControl(raw, frames);
      const inner: Subscription = runWithFlowControl(flow, () =>
        next.handle().subscribe({
          // A handler that returns messages of its own (not `observe()`): framed here.
          next: (message) => {
            if (!opened) raw.once('close', () => inner.unsubscribe());
            open();
            frames.write(Buffer.from(formatSseMessage(toSseMessage(message))));
          },
          error: (error: unknown) => {
            if (!opened) return outer.error(error);
            this.logger.error(`The event stream failed after it started; ending the response. ${String(error)}`);
            frames.flush();
            raw.end();
          },
          complete: () => {
            if (owned) return;
            open();
            frames.flush();
            raw.end();
          },
        }),
      );
      return () => {
        // Only a request that goes away before the stream starts (Nest unsubscribes) ends here.
        if (!opened) inner.unsubscribe();
      };
    });
  }
}

/**
 * The frame writer of a response the stream's client owns. It lives as long as the connection,
 * so it is built out here: a closure made inside `takeOver()` would keep Nest's whole request
 * context (execution context, handler, arguments) alive with it.
 */
function ownedResponseWriter(raw: TakenOverResponse, onAttach: () => void): ResponseFrameWriter {
  const writer = responseFrameWriter(raw);
  let attach: (() => void) | undefined = onAttach;
  return {
    // The stream attached its client: send the head now, its frames right after.
    whenOpen(listener) {
      const attachNow = attach;
      attach = undefined;
      attachNow?.();
      return later(listener);
    },
    get backlog() {
      return writer.backlog;
    },
    write: (frame) => writer.write(frame),
    flush: () => writer.flush(),
    end: () => {
      writer.flush();
      raw.end();
    },
    onClose: (listener) => raw.once('close', listener),
  };
}

/** Calls `listener` in a microtask unless cancelled first. */
function later(listener: () => void): () => void {
  let cancelled = false;
  queueMicrotask(() => {
    if (!cancelled) listener();
  });
  return () => (cancelled = true);
}

function toSseMessage(message: unknown): SseMessage {
  if (typeof message === 'object' && message !== null && 'data' in message) {
    const { data } = message as { data: unknown };
    return { ...(message as object), data: typeof data === 'string' ? data : JSON.stringify(data) } as SseMessage;
  }
  return { data: typeof message === 'string' ? message : JSON.stringify(message) } as SseMessage;
}
