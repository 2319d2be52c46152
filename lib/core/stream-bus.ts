import type { StreamEvent, StreamState } from './stream-event.js';

/** An event as it travels between instances. */
export interface BusEvent {
  /** The event's sequence in its stream. */
  readonly sequence: number;
  /** The SSE event type. */
  readonly type: string;
  /** The serialised data. */
  readonly data: string;
  /** Set on the final event: the state the stream ends in. */
  readonly final?: StreamState;
}

/** What the bus knows of a stream produced somewhere. */
export interface BusStreamInfo {
  /** The stream's id. */
  readonly streamId: string;
  /** The stream's epoch. */
  readonly epoch: string;
  /** Where the stream stands, as its producer last told the bus. */
  readonly status: StreamState;
  /** Every event up to this sequence is in the durable store. */
  readonly persistedThrough: number;
}

/** Receives a followed stream's events, in order. */
export interface BusFollower {
  /** The next event of the stream. */
  event(event: BusEvent): void;
  /** The bus lost events after `afterSequence` (its data was lost): they must come from elsewhere. */
  gap(afterSequence: number, nextSequence: number): void;
  /** The producer has stored every event up to this sequence (older ones can come from the store). */
  stored?(throughSequence: number): void;
  /** How long the bus keeps the stream once a follower had to end it. */
  readonly retentionMs?: number;
  /** Most events to read from the bus at a time (their data is held until delivered). Default 500. */
  readonly batchEvents?: number;
}

/**
 * How instances share streams (a transport with swappable engines, in the manner of Mercure's
 * hub). The in-process bus is the default; `RedisStreamBus` (nestjs-meridian-stream/redis)
 * shares streams across processes.
 */
export interface StreamBus {
  /**
   * A stream starts here: this instance produces it and holds its lease. `stored` says whether a
   * store keeps its events (then the bus drops them only once they are stored). Claims the id
   * atomically: rejects with `StreamAlreadyExistsError` (changing nothing) while the bus holds
   * another stream (another epoch) under it, running or in its retention; opening again with the
   * same epoch (the owner after a reconnect) succeeds. Other failures are the bus's to retry.
   */
  open(streamId: string, epoch: string, stored: boolean): Promise<void>;
  /** Appends an event of a stream produced here; in order, never twice. */
  publish(streamId: string, event: StreamEvent, final?: StreamState): void;
  /** Every event up to `throughSequence` is committed to the store: the bus may drop them. */
  persisted(streamId: string, throughSequence: number): void;
  /** The stream produced here finished: stop its lease; the bus keeps it for `retentionMs`. */
  close(streamId: string, retentionMs: number): void;
  /** What the bus knows of a stream, or undefined. */
  lookup(streamId: string): Promise<BusStreamInfo | undefined>;
  /** Events of a stream after `afterSequence` that the bus still holds, oldest first. */
  read(streamId: string, afterSequence: number, limit: number): Promise<BusEvent[]>;
  /**
   * Delivers every event after `afterSequence` as it comes, until the final one or until the
   * returned function is called. When the producer's lease runs out before the final event, the
   * bus appends a final `error` event itself (once, whichever instance notices first).
   */
  follow(streamId: string, afterSequence: number, follower: BusFollower, lostEvent: () => BusEvent): () => void;
  /** Releases connections and timers. */
  shutdown(): Promise<void>;
  /** Optional: verifies at start-up that the bus is reachable. */
  check?(): Promise<void>;
}
