import { InvalidEventIdError } from './errors.js';
import { formatEventId, parseEventId } from './event-id.js';
import type { CatchupTier } from './stream-metrics.js';
import type { PositionMessage, ResetMessage } from './stream-event.js';
import type { EpochTail } from './stream-log.js';

/** Why a client was sent a `reset` event instead of a seamless continuation. */
export type ResetReason =
  /** Its Last-Event-ID belongs to another history of this stream (another epoch). */
  | 'unknown_epoch'
  /** The events after its Last-Event-ID are no longer held. */
  | 'history_truncated'
  /**
   * Its Last-Event-ID is past what was stored when the stream's producer process died: the events
   * it saw after that were never stored. It is sent the stored history again, from the start.
   */
  | 'history_lost';

/** Where a stream stands, as far as resuming is concerned. */
export interface ResumeContext {
  readonly epoch: string;
  readonly lastSequence: number;
  /** The oldest event still in memory (the next to come when none is). */
  readonly firstHeldSequence: number;
  /** Whether events after this sequence can be read from the store. */
  canReadHistory(sequence: number): boolean;
  readonly retryMs?: number;
  readonly resetType: string;
  /** Set when the stream ended under another epoch after its producer's process died. */
  readonly tail?: EpochTail;
}

/** Where a client continues: after `cursor`, told of a reset first when there is one. */
export interface ResumePoint {
  /** The sequence after which the client continues. */
  readonly cursor: number;
  /** Why the client is sent a `reset` first, if it is. */
  readonly reset?: ResetReason;
  /** The Last-Event-ID the client sent, if any (a reset repeats it). */
  readonly lastEventId?: string;
}

/** Whether `from` is a resume point already resolved, rather than a Last-Event-ID still to read. */
export function isResumePoint(from: unknown): from is ResumePoint {
  return typeof from === 'object' && from !== null && 'cursor' in from;
}

/**
 * Where a client that sent `lastEventId` continues. Throws {@link InvalidEventIdError} for an id
 * that is malformed or ahead of the stream.
 */
export function resolveResume(context: ResumeContext, lastEventId: string | null | undefined): ResumePoint {
  let cursor = 0;
  let reset: ResetReason | undefined;
  if (lastEventId) {
    const position = parseEventId(lastEventId);
    const { tail } = context;
    if (tail && position.epoch === tail.epoch && position.sequence > tail.after) {
      cursor = aheadCheck(context, lastEventId, position.sequence);
    } else if (position.epoch !== context.epoch) {
      reset = 'unknown_epoch';
    } else if (tail && position.sequence > tail.after) {
      reset = 'history_lost';
    } else {
      cursor = aheadCheck(context, lastEventId, position.sequence);
    }
  }
  // With a store, whatever left memory was stored first: only without one can history be lost.
  if (cursor < context.firstHeldSequence - 1 && !context.canReadHistory(cursor)) {
    cursor = context.firstHeldSequence - 1;
    reset ??= 'history_truncated';
  }
  return lastEventId === undefined || lastEventId === null ? { cursor, reset } : { cursor, reset, lastEventId };
}

/** `sequence`, unless the stream has not issued it: then the id is refused (400). */
function aheadCheck(context: ResumeContext, lastEventId: string, sequence: number): number {
  if (sequence <= context.lastSequence) return sequence;
  const last = idAt(context, context.lastSequence);
  throw new InvalidEventIdError(lastEventId, `this stream has issued events only up to ${last}.`);
}

/** The id of the event at `sequence` (0: before the first). */
function idAt(context: ResumeContext, sequence: number): string {
  const { tail } = context;
  return formatEventId(tail && sequence > tail.after ? tail.epoch : context.epoch, sequence);
}

/**
 * The first message of a connection, if it needs one: the reset event, or, when `retryMs` is set,
 * the id-only position marker that carries the `retry:` hint. Without a reset a client continues
 * from the id it sent (from the start when it sent none), which it sends again on reconnect: an
 * id-only block would only repeat it, at the price of a trip through Nest's `@Sse()` pipeline
 * (a promise and a stream write) for every connection on that path.
 */
export function preambleFor(context: ResumeContext, point: ResumePoint): PositionMessage | ResetMessage | undefined {
  if (!point.reset && context.retryMs === undefined) return undefined;
  const id = idAt(context, point.cursor);
  const retry = context.retryMs === undefined ? {} : { retry: context.retryMs };
  if (!point.reset) return { id, ...retry };
  const data = JSON.stringify({ reason: point.reset, lastEventId: point.lastEventId ?? null, resumesAfter: id });
  return { id, type: context.resetType, data, ...retry };
}

/**
 * How a client was resumed, as the `Meridian-Resume` response header says it: `fresh` (it sent no
 * Last-Event-ID), `memory` (continued from this instance's buffer, or live), `store` (its
 * catch-up is read from the store), `bus` (the stream is produced on another instance and
 * followed here through the bus), `reset` (it is sent a `reset` event first).
 */
export type ResumeOutcome = 'fresh' | 'memory' | 'store' | 'bus' | 'reset';

/** A resume point `admit()` settled: where the client continues, and how it was resumed. */
export interface AdmittedPoint extends ResumePoint {
  /** How the client was resumed (the `Meridian-Resume` header). */
  readonly outcome: ResumeOutcome;
}

/** Whether `point` was settled by `admit()` (it carries its outcome). */
export function isAdmittedPoint(point: ResumePoint): point is AdmittedPoint {
  return 'outcome' in point;
}

/**
 * How a client resuming at `point` is resumed: a reset first, then no Last-Event-ID, then a
 * catch-up from the store; else from memory, or through the bus when the stream is `followed`.
 */
export function resumeOutcome(context: ResumeContext, point: ResumePoint, followed: boolean): ResumeOutcome {
  const tier = catchupTier(context, point);
  if (tier === 'reset') return 'reset';
  if (!point.lastEventId) return 'fresh';
  if (tier === 'store') return 'store';
  return followed ? 'bus' : 'memory';
}

/** Where a client resuming at `point` gets its first event from. */
export function catchupTier(context: ResumeContext, point: ResumePoint): CatchupTier {
  if (point.reset) return 'reset';
  if (point.cursor >= context.lastSequence) return 'live';
  return point.cursor >= context.firstHeldSequence - 1 ? 'buffer' : 'store';
}
