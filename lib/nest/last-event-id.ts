import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { LAST_EVENT_ID_HEADER, LAST_EVENT_ID_QUERY } from './streaming.constants.js';

interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
}

/**
 * The client's resume position: the `Last-Event-ID` header, else the `lastEventId` query
 * parameter. The header wins when both are present: EventSource sets it on its own reconnects,
 * so it is newer than a query string the page built earlier. Empty means none.
 */
export function readLastEventId(request: RequestLike): string | undefined {
  const header = first(request.headers?.[LAST_EVENT_ID_HEADER]);
  if (header) return header;
  const query = first(request.query?.[LAST_EVENT_ID_QUERY]);
  return query || undefined;
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
