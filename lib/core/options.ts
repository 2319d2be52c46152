import { InvalidStreamInputError } from './errors.js';
import type { EventInput } from './stream-event.js';

/** Names of the event types the library itself emits. */
export interface StreamEventTypes {
  /** Type of events sent without a type. Default `message`. */
  readonly message: string;
  /** Final event of a completed stream. Default `done`. */
  readonly done: string;
  /** Final event of a failed stream (the producer threw). Default `error`. */
  readonly error: string;
  /** Final event of a cancelled stream (cancel(), timeout, shutdown). Default `cancelled`. */
  readonly cancelled: string;
  /** Sent to a client whose Last-Event-ID cannot be served without a gap. Default `reset`. */
  readonly reset: string;
}

/** Options of one stream; module-wide defaults come from the `StreamingModule` options. */
export interface StreamOptions {
  /** Keep a finished stream this long (ms) so late reconnects still replay. Default 300000 (5 min). */
  readonly retentionMs?: number;
  /** Cancel the stream after this many ms (0: never). Default 0. */
  readonly timeoutMs?: number;
  /** Send a heartbeat comment every this many ms (0: never). Default 15000. */
  readonly heartbeatMs?: number;
  /** `retry:` hint (ms) sent to each client when it connects. Default: none (the client's own). */
  readonly retryMs?: number;
  /** Most events kept in the replay buffer. Default 10000. */
  readonly bufferMaxEvents?: number;
  /** Most bytes of event data kept in the replay buffer. Default 16 MiB. */
  readonly bufferMaxBytes?: number;
  /** Largest accepted event data, in bytes. Default 1 MiB. */
  readonly maxEventBytes?: number;
  /** Most bytes a backed-up client may fall behind before it is cut. Default 4 MiB. */
  readonly maxClientBacklogBytes?: number;
  /** Most simultaneous clients of one stream. Default 10000. */
  readonly maxClientsPerStream?: number;
  /** Names of the library's own event types. */
  readonly eventTypes?: Partial<StreamEventTypes>;
  /** Turns an item of an Observable / AsyncIterable producer into an event. Default: the item is the data. */
  readonly toEvent?: (item: never) => EventInput;
}

/** {@link StreamOptions} with every default filled in. */
export interface ResolvedStreamOptions extends Required<Omit<StreamOptions, 'retryMs' | 'eventTypes' | 'toEvent'>> {
  readonly retryMs?: number;
  readonly eventTypes: StreamEventTypes;
  readonly toEvent: (item: unknown) => EventInput;
}

export const DEFAULT_EVENT_TYPES: StreamEventTypes = {
  message: 'message',
  done: 'done',
  error: 'error',
  cancelled: 'cancelled',
  reset: 'reset',
};

export const DEFAULT_STREAM_OPTIONS = {
  retentionMs: 5 * 60_000,
  timeoutMs: 0,
  heartbeatMs: 15_000,
  bufferMaxEvents: 10_000,
  bufferMaxBytes: 16 * 1024 * 1024,
  maxEventBytes: 1024 * 1024,
  maxClientBacklogBytes: 4 * 1024 * 1024,
  maxClientsPerStream: 10_000,
} as const;

const NUMERIC_OPTIONS = Object.keys(DEFAULT_STREAM_OPTIONS) as (keyof typeof DEFAULT_STREAM_OPTIONS)[];

/** Merges per-stream options over module defaults over library defaults, and validates them. */
export function resolveStreamOptions(...layers: (StreamOptions | undefined)[]): ResolvedStreamOptions {
  const merged: Record<string, unknown> = { ...DEFAULT_STREAM_OPTIONS };
  let eventTypes: StreamEventTypes = DEFAULT_EVENT_TYPES;
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined && key !== 'eventTypes') merged[key] = value;
    }
    if (layer.eventTypes) eventTypes = { ...eventTypes, ...layer.eventTypes };
  }
  for (const key of NUMERIC_OPTIONS) assertCount(key, merged[key]);
  if (merged.retryMs !== undefined) assertCount('retryMs', merged.retryMs);
  for (const [name, value] of Object.entries(eventTypes)) {
    if (typeof value !== 'string' || !/^[\x21-\x7e]+$/.test(value)) {
      throw new InvalidStreamInputError(
        `eventTypes.${name} must be a non-empty string of printable ASCII without spaces.`,
      );
    }
  }
  const toEvent =
    (merged.toEvent as ((item: unknown) => EventInput) | undefined) ?? ((item: unknown) => ({ data: item }));
  return { ...(merged as Omit<ResolvedStreamOptions, 'eventTypes' | 'toEvent'>), eventTypes, toEvent };
}

function assertCount(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidStreamInputError(`Option ${name} must be a whole number >= 0, got ${String(value)}.`);
  }
}
