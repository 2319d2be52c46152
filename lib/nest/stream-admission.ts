import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { HEARTBEAT } from '../core/heartbeat.js';
import type { StreamAdmission } from '../core/stream-registry.js';
import { ResumableStream } from '../core/stream.js';

/** Where `StreamGuard` leaves what it decided on the request, as passport leaves `request.user`. */
const ADMISSION = Symbol('meridian-stream:admission');

/** Records on the request the client `StreamGuard` let in. @internal */
export function setAdmission(request: object, admission: StreamAdmission): void {
  (request as Record<symbol, StreamAdmission>)[ADMISSION] = admission;
}

/**
 * Forgets it once the route has used it: a kept-alive connection may hold on to its last request,
 * which must not keep the stream (and its buffer) alive. @internal
 */
export function releaseAdmission(request: object): void {
  delete (request as Record<symbol, StreamAdmission>)[ADMISSION];
}

/** The client `StreamGuard` let in on this request, if it ran. @internal */
export function admissionOf(request: unknown): StreamAdmission | undefined {
  return typeof request === 'object' && request !== null
    ? (request as Record<symbol, StreamAdmission | undefined>)[ADMISSION]
    : undefined;
}

/**
 * Parameter decorator: the stream `StreamGuard` found and let this client in to. Return it from an
 * `@ResumableSse()` handler to serve it from the client's `Last-Event-ID`.
 *
 * ```ts
 * @ResumableSse(':id')
 * follow(@AdmittedStream() stream: ResumableStream): ResumableStream {
 *   return stream;
 * }
 * ```
 */
export const AdmittedStream = createParamDecorator(
  (_data: unknown, context: ExecutionContext) => admissionOf(context.getArgByIndex(0))?.stream,
);

/**
 * What an `@ResumableSse()` handler's result asks for: the admitted stream (it returned nothing,
 * the stream, or `observe()` of it), another stream it returned, or undefined for messages of its own.
 * @internal
 */
export function servedBy(value: unknown, admission: StreamAdmission): StreamAdmission | undefined {
  const { stream } = admission;
  if (value === undefined || value === stream) return admission;
  if (value instanceof ResumableStream) return { stream: value, point: value.admit(admission.point.lastEventId) };
  return isMessageOf(value, stream) ? admission : undefined;
}

/** A message `observe()` of `stream` emits: an event, a reset or position marker, a heartbeat. */
function isMessageOf(value: unknown, stream: ResumableStream): boolean {
  if (value === HEARTBEAT) return true;
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.startsWith(`${stream.epoch}-`);
}
