import type { ServerResponse } from 'node:http';
import { Injectable, Logger, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable, Subscriber } from 'rxjs';
import { formatSseMessage } from '../core/sse-frame.js';
import type { SseMessage } from '../core/stream-event.js';
import { NodeHttpConnection } from '../http/node-http-connection.js';
import { setResumeHeader } from '../http/resume-header.js';
import { serveStream } from '../http/serve-stream.js';
import { nodeResponseOf } from './node-response.js';
import { admissionOf, releaseAdmission, servedBy } from './stream-admission.js';

interface Reply {
  hijack?(): unknown;
  getHeaders?(): Record<string, unknown>;
}

/**
 * The default path of `@ResumableSse()`: once the guard has let the client in and the handler has
 * run, the response is taken over. The interceptor sends the SSE head itself and the admitted
 * stream is served on the connection: each event's frame, made once and shared by every client,
 * written straight to the socket, paced by its backpressure. Nest's request lifecycle then ends,
 * so an open connection holds little more than its socket and its place in the stream.
 * Interceptors do not see the events; use `@ResumableSse(path, { pipeline: 'nest' })` for that.
 */
@Injectable()
export class DirectSseInterceptor implements NestInterceptor {
  private readonly logger = new Logger('DirectSseInterceptor');

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // (request, response) by index, as in StreamGuard: `switchToHttp()` adds three closures per call.
    const request = context.getArgByIndex<{ method?: string }>(0);
    const reply = context.getArgByIndex<Reply>(1);
    const raw = nodeResponseOf<ServerResponse>(reply, 'once');
    const admission = admissionOf(request);
    if (!raw || !admission) return next.handle();
    return new Observable<unknown>((outer) => {
      const connection = new NodeHttpConnection(raw, {
        // Read when the head is sent: until then the handler's choice of stream may change them.
        get headers() {
          return reply === (raw as unknown) ? undefined : reply.getHeaders?.();
        },
        headOnly: request.method === 'HEAD',
      });
      let opened = false;
      let served = false;
      const open = () => {
        if (opened) return;
        opened = true;
        // Fastify must leave the raw response to us; Express needs nothing.
        reply.hijack?.();
        connection.open();
        // Nest's part of the request ends here; the connection is the stream's.
        outer.next(undefined);
        outer.complete();
      };
      const handler = new Subscriber<unknown>({
        next: (value) => {
          releaseAdmission(request);
          if (served) return;
          const serve = servedBy(value, admission);
          if (serve) {
            // The handler's own Observable (observe(), if it returned that) is let go at once.
            served = true;
            handler.unsubscribe();
            // The handler may serve another stream than the one admitted: it says how.
            setResumeHeader(raw, serve.point);
            open();
            if (request.method !== 'HEAD') serveStream(serve.stream, connection, serve.point);
            return;
          }
          // A handler that returns messages of its own: framed here.
          if (!opened) connection.onClose(() => handler.unsubscribe());
          open();
          connection.write(Buffer.from(formatSseMessage(toSseMessage(value))));
        },
        error: (error: unknown) => {
          releaseAdmission(request);
          if (!opened) return outer.error(error);
          this.logger.error(`The event stream failed after it started; ending the response. ${String(error)}`);
          connection.end();
        },
        complete: () => {
          releaseAdmission(request);
          if (served) return;
          open();
          connection.end();
        },
      });
      next.handle().subscribe(handler);
      // A handler whose Observable has nothing to say yet still opens the event stream, after
      // the turn in which an error could still be answered with a status (as Nest's `@Sse()` does).
      const timer = setTimeout(() => {
        if (!handler.closed) open();
      }, 0);
      return () => {
        clearTimeout(timer);
        // Only a request that goes away before the stream starts (Nest unsubscribes) ends here.
        if (!opened) handler.unsubscribe();
      };
    });
  }
}

function toSseMessage(message: unknown): SseMessage {
  if (typeof message === 'object' && message !== null && 'data' in message) {
    const { data } = message as { data: unknown };
    return { ...(message as object), data: typeof data === 'string' ? data : JSON.stringify(data) } as SseMessage;
  }
  return { data: typeof message === 'string' ? message : JSON.stringify(message) } as SseMessage;
}
