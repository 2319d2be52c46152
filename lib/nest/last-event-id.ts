import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { LAST_EVENT_ID_HEADER, LAST_EVENT_ID_QUERY } from './streaming.constants.js';

interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
  url?: string;
}

/**
 * The client's resume position: the `Last-Event-ID` header, else the `lastEventId` query
 * parameter. The header wins when both are present: EventSource sets it on its own reconnects,
 * so it is newer than a query string the page built earlier. Empty means none.
 */
export function readLastEventId(request: RequestLike): string | undefined {
  // Read each property of the request once: Express gives every request its own prototype, so
  // each read of one is slow. Not memoised on the request: adding a property costs more still.
  return first(request.headers?.[LAST_EVENT_ID_HEADER]) || fromQuery(request) || undefined;
}

function fromQuery(request: RequestLike): string | undefined {
  // Every adapter keeps the query string in `url`, and Express parses all of it again on each
  // read of `query`: without a `?` there is nothing to find.
  if (typeof request.url === 'string' && !request.url.includes('?')) return undefined;
  return first(request.query?.[LAST_EVENT_ID_QUERY]);
}

function first(value: unknown): string | undefined {
  const single = Array.isArray(value) ? value[0] : value;
  return typeof single === 'string' ? single : undefined;
}

/**
 * Parameter decorator: the client's `Last-Event-ID` (header, falling back to `?lastEventId=`),
 * or undefined. Pass it to `StreamRegistry.observe()`.
 */
export const LastEventId = createParamDecorator((_data: unknown, context: ExecutionContext) =>
  readLastEventId(context.switchToHttp().getRequest<RequestLike>()),
);
