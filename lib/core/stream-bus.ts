import type { StreamDescriptor } from './stream-descriptor.js';
import type { StreamState } from './stream-event.js';

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
  /** When the bus took the event (ms since the epoch, by the bus's clock), where it says. */
  readonly producedAt?: number;
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
  /** The stream's metadata and portable options, as given to `open()`. */
  readonly descriptor?: StreamDescriptor;
}

/** Receives a followed stream's events, in order. */
export interface BusFollower {
  /** The next event of the stream. */
  event(event: BusEvent): void;
  /** The bus lost events after `afterSequence` (its data was lost): they must come from elsewhere. */
  gap(afterSequence: number, nextSequence: number): void;
  /** The producer has stored every event up to this sequence (older ones can come from the store). */
  stored?(throughSequence: number): void;
  /** Keep following after the final event until it is reported stored (`durability: 'commit'`). Default false. */
  readonly storedToEnd?: boolean;
  /** Most events to read from the bus at a time (their data is held until delivered). Default 500. */
  readonly batchEvents?: number;
}

/**
 * A message to the instance that produces a stream, sent from any instance: `cancel` and
 * `soft-cancel` today; the channel carries any JSON message, so later kinds need no new transport.
 */
export interface ControlMessage {
  /**
   * What to do: `cancel` ends the stream with the final `cancelled` event; `soft-cancel` too, but
   * without aborting the producer.
   */
  readonly type: string;
  /** Why, passed on to the stream (e.g. the cancel reason). */
  readonly reason?: string;
  /** Anything else the message carries (JSON). */
  readonly data?: unknown;
  /**
   * Set by `StreamBus.request()`: the request's id, unique per request. A producer that sees an
   * id again (a retried request) answers as before and does not apply the message twice.
   */
  readonly id?: string;
}

/** How a stream opened on the bus is set up, and how the bus reaches its producer. */
export interface BusOpenOptions {
  /** Whether a store keeps the stream's events (then the bus drops them only once they are stored). */
  readonly stored: boolean;
  /**
   * The final event any instance appends when the producer's instance stops renewing its lease
   * (its sequence is the bus's to choose: the one after the last accepted event).
   */
  readonly lostEvent: { readonly type: string; readonly data: string };
  /** How long the bus keeps the stream once it is ended for a lost producer, in ms. */
  readonly retentionMs: number;
  /**
   * Called with each control message sent to the stream (see `StreamBus.control()`). What it
   * returns (JSON, or undefined) is the producer's answer to a `StreamBus.request()`.
   */
  readonly onControl?: (message: ControlMessage) => unknown;
  /**
   * The stream's metadata and portable options, for `lookup()` on every instance. Its `active`
   * entries index the stream for `findActive()` while it runs.
   */
  readonly descriptor?: StreamDescriptor;
}

/** What the bus answered to an append. */
export type AppendOutcome =
  /** Every event is in the bus, in order, after the ones accepted before. */
  | { readonly accepted: true }
  /**
   * Refused: this instance no longer holds the stream (its lease ran out and another instance
   * ended it). `ending` is what the bus holds after the sequence before the refused append's first
   * event (so it includes this producer's own events the bus took before a lost reply), through the
   * final event every other instance got.
   */
  | { readonly accepted: false; readonly ending: readonly BusEvent[] };

/**
 * How instances share streams (a transport with swappable engines, in the manner of Mercure's
 * hub). The in-process bus is the default; `RedisStreamBus` (nestjs-meridian-stream/redis)
 * shares streams across processes.
 */
export interface StreamBus {
  /**
   * A stream starts here: this instance produces it and holds it under its lease. Claims the id
   * atomically: rejects with `StreamAlreadyExistsError` (changing nothing) while the bus holds
   * another stream (another epoch) under it, running or in its retention; opening again with the
   * same epoch (the owner after a reconnect) succeeds. Other failures are the bus's to retry.
   */
  open(streamId: string, epoch: string, options: BusOpenOptions): Promise<void>;
  /**
   * Appends events of a stream produced here, in order, the last one final when the stream ends.
   * Fenced: refused once this instance no longer holds the stream. The stream never has two
   * appends in flight, so events accepted are events a client may see. Resolves only once the bus
   * holds them (retrying a bus that is away); rejects only for a fault no retry can mend.
   */
  append(streamId: string, events: readonly BusEvent[]): Promise<AppendOutcome>;
  /** Every event up to `throughSequence` is committed to the store: the bus may drop them. */
  persisted(streamId: string, throughSequence: number): void;
  /** The stream produced here finished: it leaves this instance's lease; the bus keeps it for `retentionMs`. */
  close(streamId: string, retentionMs: number): void;
  /** What the bus knows of a stream, or undefined. */
  lookup(streamId: string): Promise<BusStreamInfo | undefined>;
  /** Events of a stream after `afterSequence` that the bus still holds, oldest first. */
  read(streamId: string, afterSequence: number, limit: number): Promise<BusEvent[]>;
  /**
   * Delivers every event after `afterSequence` as it comes, until the final one or until the
   * returned function is called. When the producer's instance stops renewing its lease before
   * the final event, some instance appends the stream's lost event (once) and it is delivered.
   */
  follow(streamId: string, afterSequence: number, follower: BusFollower): () => void;
  /**
   * Sends a control message to the instance producing the stream. Resolves true when a producer
   * received it, false when none did (the stream is finished, unknown, or its producer is gone).
   */
  control(streamId: string, message: ControlMessage): Promise<boolean>;
  /**
   * Optional (needed for `registry.interject()` across instances): sends a control message, with
   * a fresh `id`, to the instance producing the stream and resolves what its `onControl` returned,
   * or undefined when no producer answered (the stream is finished, unknown, its producer is gone,
   * or no answer came within `timeoutMs`, default 5000). Messages one instance sends to one stream
   * (by `control()` or `request()`) reach its producer in the order sent, each at most once.
   */
  request?(streamId: string, message: ControlMessage, timeoutMs?: number): Promise<unknown>;
  /**
   * Optional: the id of the stream last opened with this `active` entry (`field=value`, see
   * `BusOpenOptions.descriptor`) while it runs. May answer a stream that has just finished or
   * whose producer is gone (the registry checks with `lookup()`); undefined when none.
   */
  findActive?(entry: string): Promise<string | undefined>;
  /**
   * Optional (needed by `registry.delete()`): forgets the stream now, whatever its state: its
   * events, metadata and active entries, so that its id can be opened again. Resolves whether
   * the bus held it. Call it once the stream has ended (a producer still appending recreates it).
   */
  delete?(streamId: string): Promise<boolean>;
  /** Releases connections and timers. */
  shutdown(): Promise<void>;
  /** Optional: verifies at start-up that the bus is reachable. */
  check?(): Promise<void>;
}
