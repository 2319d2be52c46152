import type { ServerResponse } from 'node:http';
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { map, type Observable } from 'rxjs';
import { ResumableStream } from '../core/stream.js';
import { NodeHttpConnection } from '../http/node-http-connection.js';
import { serveStream } from '../http/serve-stream.js';
import { RESUME_HEADER } from '../http/resume-header.js';
import { STANDARD_SSE_FORMAT, UI_MESSAGE_STREAM_FORMAT, type SseWireFormat } from '../http/sse-wire-format.js';
import { readLastEventId } from './last-event-id.js';
import { nodeResponseOf } from './node-response.js';
import { SseConnectionTracker } from './sse-connection-tracker.js';
import { STREAM_RESPONSE_METADATA } from './streaming.constants.js';

/** Wire formats by name (see `StreamResponseOptions.format`). */
const FORMATS: Record<string, SseWireFormat> = {
  sse: STANDARD_SSE_FORMAT,
  'ui-message-stream': UI_MESSAGE_STREAM_FORMAT,
};

interface Reply {
  hijack?(): unknown;
  getHeaders?(): Record<string, unknown>;
}

/**
 * The interceptor of `@StreamResponse()`: the handler (any method: a `POST` that starts a stream,
 * a `GET` that looks one up) returns the stream to serve, or a promise of it. A stream is served
 * on the response from the request's `Last-Event-ID` (from its first event without one), as
 * `@ResumableSse()` serves it; `undefined` or `null` answers 204 (nothing to resume). What the
 * handler throws goes to Nest's exception filters, before anything is written.
 */
@Injectable()
export class StreamResponseInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly connections: SseConnectionTracker,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.getArgByIndex<{ method?: string; headers?: Record<string, unknown> }>(0);
    const reply = context.getArgByIndex<Reply>(1);
    const name = this.reflector.get<string | undefined>(STREAM_RESPONSE_METADATA, context.getHandler()) ?? 'sse';
    const format = FORMATS[name];
    return next.handle().pipe(
      map((value: unknown) => {
        const raw = nodeResponseOf<ServerResponse>(reply, 'once');
        if (!raw) throw new Error('@StreamResponse() serves HTTP requests only.');
        if (value === undefined || value === null) {
          reply.hijack?.();
          raw.writeHead(204).end();
          return undefined;
        }
        if (!(value instanceof ResumableStream)) {
          throw new TypeError(
            'A @StreamResponse() handler returns the ResumableStream to serve, or undefined for 204.',
          );
        }
        // Read before anything is written: a bad Last-Event-ID or a full stream is still a status.
        const point = value.admit(readLastEventId(request as Parameters<typeof readLastEventId>[0]));
        const headers = {
          ...(reply === (raw as unknown) ? undefined : reply.getHeaders?.()),
          ...format.headers,
          [RESUME_HEADER]: point.outcome,
        };
        const connection = new NodeHttpConnection(raw, { headers, headOnly: request.method === 'HEAD' });
        reply.hijack?.();
        this.connections.track(reply);
        connection.open();
        if (request.method !== 'HEAD') serveStream(value, connection, point, { format });
        return undefined;
      }),
    );
  }
}
