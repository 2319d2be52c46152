import { InvalidStreamInputError } from './errors.js';
import { DEFAULT_INTERJECTION_MAX_BYTES, type InterjectionCombiner } from './interjections.js';
import type { EventInput } from './stream-event.js';
import type { StreamDescriptor } from './stream-descriptor.js';

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
  /** Send a heartbeat comment after this many ms without an event (0: never). Default 15000. */
  readonly heartbeatMs?: number;
  /** `retry:` hint (ms) sent to each client when it connects. Default: none (the client's own). */
  readonly retryMs?: number;
  /** Most events kept in the replay buffer. Default 10000. */
  readonly bufferMaxEvents?: number;
  /**
   * Most bytes held for the replay buffer: each event's SSE frame (its `event:`, `id:`, `data:`
   * lines) in HTTP/1.1 chunked encoding, plus 20 bytes of index. Default 16 MiB.
   */
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
  /** With a store: write to it once this many events are unwritten (0: not on count). Default 500. */
  readonly persistEveryEvents?: number;
  /** With a store: write unwritten events this often, in ms (0: not on time). Default 1000. */
  readonly persistEveryMs?: number;
  /** With a store: write when the stream finishes. Default true. */
  readonly persistOnFinish?: boolean;
  /** Events read from the store per query when a client catches up. Default 500. */
  readonly historyPageSize?: number;
  /**
   * Most bytes of event data read from the store per query when a client catches up (at least
   * one event is read, whatever its size). What a client that stops reading mid-catch-up holds
   * is about one such page. Default 1 MiB.
   */
  readonly historyPageBytes?: number;
  /**
   * Answers a client's catch-up from the store tier with events of your own (e.g. one
   * aggregated "block" instead of many deltas), as meridian-stream-go's `WithCatchup` did. Each
   * returned event must carry `sequence`: the last stream event it covers, which becomes its id,
   * so a client can resume from it. Events it does not cover are read from the store as usual.
   */
  readonly catchup?: CatchupFunction;
  /** Most bytes (UTF-8) of interjected text queued for the producer (`ctx.interjections`). Default 64 KiB. */
  readonly interjectionMaxBytes?: number;
  /** Joins queued interjected text with text appended to it. Default: a newline between them. */
  readonly combineInterjections?: InterjectionCombiner;
  /**
   * With a store: most bytes of event data sent and not yet stored. Past it the producer is
   * slowed (`await ctx.writable()` waits, an AsyncIterable is not pulled); past twice it, or over
   * it for `unstoredFailAfterMs`, the stream fails with `StoreUnavailableError`. Default 16 MiB.
   * See docs/durability.md.
   */
  readonly maxUnstoredBytes?: number;
  /** With a store: fail the stream once it has been over its unstored limits this long, in ms (0: never on time). Default 30000. */
  readonly unstoredFailAfterMs?: number;
  /**
   * When clients get an event. `'write-behind'` (default): at once, the store written behind.
   * `'commit'`: only once the store has committed it (nothing a client saw is lost in a crash),
   * written every `groupCommitMs`. Needs a store. See docs/durability.md.
   */
  readonly durability?: StreamDurability;
  /** With `durability: 'commit'`: how long events gather before one store write, in ms. Default 5. */
  readonly groupCommitMs?: number;
}

/** See {@link StreamOptions.durability}. */
export type StreamDurability = 'write-behind' | 'commit';

/** What a {@link CatchupFunction} is asked for. */
export interface CatchupRequest {
  /** The stream the client catches up on. */
  readonly streamId: string;
  /** The stream's epoch: the first part of every id. */
  readonly epoch: string;
  /** The client has every event up to this sequence. */
  readonly afterSequence: number;
  /** The store holds events up to this sequence. */
  readonly throughSequence: number;
  /**
   * The page bound (`historyPageBytes`, at most `maxClientBacklogBytes`): read about this much (`EventStore.readAfter`'s
   * `maxBytes`). Returned events past it are not delivered from this answer; the client
   * continues from the store after the last one that fits.
   */
  readonly maxBytes: number;
}

/** An event of a custom catch-up: `sequence` is the last stream event it stands for. */
export interface CatchupEvent extends EventInput {
  /** The sequence of the last stream event this one covers; it becomes the event's id. */
  readonly sequence: number;
}

/** See {@link StreamOptions.catchup}. */
export type CatchupFunction = (request: CatchupRequest) => Promise<readonly CatchupEvent[]>;

/** {@link StreamOptions} with every default filled in. */
export interface ResolvedStreamOptions extends Required<
  Omit<StreamOptions, 'retryMs' | 'eventTypes' | 'toEvent' | 'catchup' | 'combineInterjections'>
> {
  /** See {@link StreamOptions.combineInterjections}. */
  readonly combineInterjections?: InterjectionCombiner;
  /** See {@link StreamOptions.retryMs}. */
  readonly retryMs?: number;
  /** See {@link StreamOptions.catchup}. */
  readonly catchup?: CatchupFunction;
  /** Every name filled in. */
  readonly eventTypes: StreamEventTypes;
  /** The stream's `toEvent`, or the default (the item is the data). */
  readonly toEvent: (item: unknown) => EventInput;
  /** What travels with the stream (store, bus): its metadata and portable options. */
  readonly descriptor?: StreamDescriptor;
}

/** The default names of the library's own event types. */
export const DEFAULT_EVENT_TYPES: StreamEventTypes = {
  message: 'message',
  done: 'done',
  error: 'error',
  cancelled: 'cancelled',
  reset: 'reset',
};

/** The library's defaults of the numeric {@link StreamOptions} (times in ms, sizes in bytes). */
export const DEFAULT_STREAM_OPTIONS = {
  retentionMs: 5 * 60_000,
  timeoutMs: 0,
  heartbeatMs: 15_000,
  bufferMaxEvents: 10_000,
  bufferMaxBytes: 16 * 1024 * 1024,
  maxEventBytes: 1024 * 1024,
  maxClientBacklogBytes: 4 * 1024 * 1024,
  maxClientsPerStream: 10_000,
  persistEveryEvents: 500,
  persistEveryMs: 1_000,
  historyPageSize: 500,
  historyPageBytes: 1024 * 1024,
  interjectionMaxBytes: DEFAULT_INTERJECTION_MAX_BYTES,
  maxUnstoredBytes: 16 * 1024 * 1024,
  unstoredFailAfterMs: 30_000,
  groupCommitMs: 5,
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
  merged.persistOnFinish ??= true;
  if (typeof merged.persistOnFinish !== 'boolean') {
    throw new InvalidStreamInputError('Option persistOnFinish must be true or false.');
  }
  merged.durability ??= 'write-behind';
  if (merged.durability !== 'write-behind' && merged.durability !== 'commit') {
    throw new InvalidStreamInputError(
      `Option durability must be 'write-behind' or 'commit', got ${String(merged.durability)}.`,
    );
  }
  for (const name of ['historyPageSize', 'historyPageBytes', 'maxUnstoredBytes', 'groupCommitMs'] as const) {
    if ((merged[name] as number) < 1) throw new InvalidStreamInputError(`Option ${name} must be at least 1.`);
  }
  if (merged.combineInterjections !== undefined && typeof merged.combineInterjections !== 'function') {
    throw new InvalidStreamInputError('Option combineInterjections must be a function.');
  }
  if (merged.catchup !== undefined && typeof merged.catchup !== 'function') {
    throw new InvalidStreamInputError('Option catchup must be a function.');
  }
  const toEvent =
    (merged.toEvent as ((item: unknown) => EventInput) | undefined) ?? ((item: unknown) => ({ data: item }));
  return { ...(merged as Omit<ResolvedStreamOptions, 'eventTypes' | 'toEvent'>), eventTypes, toEvent };
}

/**
 * Events read from a bus at a time for a stream: as many of its largest events as its buffer
 * holds, so that a read in flight never holds more than `bufferMaxBytes` of data.
 */
export function eventsPerBusRead(options: ResolvedStreamOptions): number {
  const fit = Math.floor(options.bufferMaxBytes / Math.max(1, options.maxEventBytes));
  return Math.max(1, Math.min(500, fit));
}

/** @throws InvalidStreamInputError for `durability: 'commit'` without a store: nothing could ever be delivered. */
export function assertDurability(options: ResolvedStreamOptions, hasStore: boolean): void {
  if (options.durability === 'commit' && !hasStore) {
    throw new InvalidStreamInputError(
      "Option durability: 'commit' delivers events only once a store holds them, and no store is configured. Configure a store (TypeOrmEventStore), or use durability: 'write-behind'.",
    );
  }
}

function assertCount(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidStreamInputError(`Option ${name} must be a whole number >= 0, got ${String(value)}.`);
  }
}

/** The final event any instance appends for a stream whose producer's instance is gone. */
export function lostEventOf(options: ResolvedStreamOptions): { type: string; data: string } {
  return {
    type: options.eventTypes.error,
    data: JSON.stringify({
      status: 'failed',
      message: 'The producer was lost: its instance stopped.',
      reason: 'producer_lost',
    }),
  };
}
