import { createHash, randomBytes } from 'node:crypto';
import { InvalidEventIdError } from './errors.js';

/**
 * A position in a stream: the epoch identifies one history of the stream (a new one whenever that
 * history is reset), the sequence counts its events from 1. Sequence 0 means "before the first
 * event", which is where a client starts.
 */
export interface EventPosition {
  /** The stream history: 1 to 32 lowercase letters and digits. */
  readonly epoch: string;
  /** The event's number in that history, from 1 (0: before the first event). */
  readonly sequence: number;
}

/** Longest `Last-Event-ID` accepted; anything longer is rejected without being parsed. */
export const MAX_EVENT_ID_LENGTH = 64;

const EPOCH_PATTERN = /^[0-9a-z]{1,32}$/;
const EVENT_ID_PATTERN = /^([0-9a-z]{1,32})-(0|[1-9][0-9]{0,15})$/;

/** A new random epoch: 48 bits, 12 lowercase hex characters. */
export function newEpoch(): string {
  return randomBytes(6).toString('hex');
}

/**
 * The epoch of what a stream's history says after its producer's process died: the same on every
 * instance and after every restart (derived from the stored epoch), and never one a producer
 * issued, so its ids cannot name an event a client may have seen before the crash.
 */
export function interruptedEpochOf(epoch: string): string {
  return createHash('sha256').update(`meridian-interrupted:${epoch}`).digest('hex').slice(0, 12);
}

/** Whether `value` can serve as an epoch (lowercase letters and digits, 1 to 32 of them). */
export function isValidEpoch(value: string): boolean {
  return EPOCH_PATTERN.test(value);
}

/** The wire form of a position: `<epoch>-<sequence>`, e.g. `3f9a0c12b7e4-42`. */
export function formatEventId(epoch: string, sequence: number): string {
  return `${epoch}-${sequence}`;
}

/**
 * Parses a client's `Last-Event-ID`. Throws {@link InvalidEventIdError} (HTTP 400) for anything that
 * is not an id this library issued; whether the id belongs to the stream is decided by the stream.
 */
export function parseEventId(value: string): EventPosition {
  if (value.length > MAX_EVENT_ID_LENGTH) {
    throw new InvalidEventIdError(value, `longer than ${MAX_EVENT_ID_LENGTH} characters.`);
  }
  const match = EVENT_ID_PATTERN.exec(value);
  const sequence = match ? Number(match[2]) : NaN;
  if (!match || !Number.isSafeInteger(sequence)) {
    throw new InvalidEventIdError(
      value,
      'expected "<epoch>-<sequence>" as sent in the id field of an event, e.g. "3f9a0c12b7e4-42".',
    );
  }
  return { epoch: match[1], sequence };
}
