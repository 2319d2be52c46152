import { IncomingMessage } from 'node:http';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { admissionOf } from './stream-admission.js';
import { LAST_EVENT_ID_HEADER, LAST_EVENT_ID_QUERY } from './streaming.constants.js';

interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
  url?: string;
}

/**
 * Node's own getter of `IncomingMessage#headers`, called directly: Express gives each request a
 * prototype of its own, so a plain read is a slow lookup. Undefined where headers are a field.
 */
const nodeHeadersGetter = Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'headers')?.get as
  ((this: IncomingMessage) => RequestLike['headers']) | undefined;

/**
 * The client's resume position: the `Last-Event-ID` header, else the `lastEventId` query
 * parameter. The header wins when both are present: EventSource sets it on its own reconnects,
 * so it is newer than a query string the page built earlier. Empty means none.
 */
export function readLastEventId(request: RequestLike): string | undefined {
  return first(headersOf(request)?.[LAST_EVENT_ID_HEADER]) || fromQuery(request) || undefined;
}

function headersOf(request: RequestLike): RequestLike['headers'] {
  return nodeHeadersGetter && request instanceof IncomingMessage ? nodeHeadersGetter.call(request) : request.headers;
}

function fromQuery(request: RequestLike): string | undefined {
  // Every adapter keeps the query string in `url`, and Express parses all of it again on each
  // read of `query`: without a `?` there is nothing to find.
  const url = request.url;
  if (typeof url === 'string' && !url.includes('?')) return undefined;
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
export const LastEventId = createParamDecorator(lastEventIdOf);

function lastEventIdOf(_data: unknown, context: ExecutionContext): string | undefined {
  // The request by index: `switchToHttp()` adds three closures to the context on each call.
  const request = context.getArgByIndex<RequestLike>(0);
  // Read once: where StreamGuard let the client in, it read it already.
  const admission = admissionOf(request);
  return admission ? admission.point.lastEventId : readLastEventId(request);
}

/** Whether a route parameter's factory is `@LastEventId()`'s, as Nest keeps it in the route's metadata. @internal */
export function isLastEventIdFactory(factory: unknown): boolean {
  return factory === lastEventIdOf;
}
