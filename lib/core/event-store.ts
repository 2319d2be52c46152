import { formatEventId } from './event-id.js';
import type { StreamDescriptor } from './stream-descriptor.js';
import type { StreamEvent, StreamState } from './stream-event.js';

/** What a store keeps about a stream besides its events. */
export interface StoredStreamMeta {
  /** The stream's id. */
  readonly streamId: string;
  /** The stream's epoch. */
  readonly epoch: string;
  /** The stream's state as of the events written (`running` until its final event is stored). */
  readonly status: StreamState;
  /** Sequence of the last event written to the store. */
  readonly lastSequence: number;
  /** When the stream finished, once its final event is stored; null before. */
  readonly finishedAt: Date | null;
  /**
   * The stream's metadata and the options that travel with it, written with the stream's first
   * row; a store that drops it still works, but streams brought back from it have no metadata.
   */
  readonly descriptor?: StreamDescriptor;
}

/** An event as a store returns it; the stream's epoch comes from its metadata. */
export interface StoredEvent {
  /** The event's sequence in its stream. */
  readonly sequence: number;
  /** The SSE event type. */
  readonly type: string;
  /** The serialised data, exactly as sent. */
  readonly data: string;
}

/**
 * Durable storage of stream events, the tier behind the in-memory buffer. The library ships a
 * TypeORM implementation; any other database fits behind the same three methods.
 */
export interface EventStore {
  /**
   * Writes `events` (consecutive, following what is stored) and the stream's metadata in one
   * transaction: all or nothing. Must reject, not duplicate, when an event is already stored, and
   * reject with `StreamAlreadyExistsError` when the id is stored under another epoch.
   */
  append(meta: StoredStreamMeta, events: readonly StreamEvent[]): Promise<void>;
  /**
   * Up to `limit` events of the stream with a sequence above `afterSequence`, in order. With
   * `maxBytes`, it stops before the event that would take the page's data past it (the first
   * event is always returned): a page of large events stays small. A store that ignores it still
   * works; the engine then keeps only that much of the page.
   */
  readAfter(streamId: string, afterSequence: number, limit: number, maxBytes?: number): Promise<StoredEvent[]>;
  /** The stream's metadata, or undefined when the store does not know it. */
  loadMeta(streamId: string): Promise<StoredStreamMeta | undefined>;
  /** Optional: verifies at start-up that the store is usable, failing with a message that names the fix. */
  check?(): Promise<void>;
  /**
   * Optional (needed by `registry.delete()`): deletes the stream's metadata and events in one
   * transaction, so a reader sees all of it or none. With `staleBefore`, only while the stream is
   * still stored as running and was last written before it (an interrupted stream).
   */
  deleteStream?(streamId: string, options?: { readonly staleBefore?: Date }): Promise<StoreDeletion>;
  /**
   * Optional (needed by `storeRetentionMs`): deletes up to `limit` streams that finished before
   * `before`, oldest first, each stream's metadata and events in one transaction. Reads an index
   * on the finish time, not the whole table. May delete fewer (to keep a transaction short): it
   * is called again until it deletes none.
   */
  purgeFinished?(options: { readonly before: Date; readonly limit: number }): Promise<StoreDeletion>;
  /**
   * Optional (needed by `storeRetentionMs` for interrupted streams): up to `limit` streams stored
   * as running and last written before `before`, oldest write first, after `after` (the last one
   * of the previous call) when given.
   */
  listStale?(options: {
    readonly before: Date;
    readonly limit: number;
    readonly after?: StaleStream;
  }): Promise<StaleStream[]>;
}

/** What a store deleted. */
export interface StoreDeletion {
  /** The ids of the streams deleted (their metadata rows). */
  readonly streamIds: readonly string[];
  /** How many events were deleted with them. */
  readonly events: number;
}

/** A stream stored as running that was not written for a while: maybe interrupted. */
export interface StaleStream {
  readonly streamId: string;
  /** When it was last written. */
  readonly updatedAt: Date;
}

/**
 * Writes events somewhere of your choosing instead of the configured store, as
 * meridian-stream-go's `PersistAndClear(fn)` did. Only after it resolves are the events removed
 * from memory; a rejection keeps them.
 */
export type PersistFunction = (events: readonly StreamEvent[], meta: StoredStreamMeta) => Promise<void>;

/** Rebuilds a full event from what a store returned. */
export function restoreEvent(stored: StoredEvent, epoch: string): StreamEvent {
  return Object.freeze({
    id: formatEventId(epoch, stored.sequence),
    type: stored.type,
    data: stored.data,
    sequence: stored.sequence,
    epoch,
    bytes: Buffer.byteLength(stored.data),
  });
}
