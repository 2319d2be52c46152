import type { EventStore } from './event-store.js';
import type { StreamLogger } from './logger.js';
import type { BusEvent, StreamBus } from './stream-bus.js';
import type { ClientEndReason, DeliveryCount } from './stream-client.js';
import type { StreamEvent, StreamState } from './stream-event.js';
import type { CatchupTier } from './stream-metrics.js';
import type { ResumeOutcome } from './resume.js';
import type { ResumableStream } from './stream.js';
import type { StreamFinishedHook } from './stream-turn.js';
import type { UnstoredPool } from './unstored-limit.js';

/** Called by the stream; the registry uses them for bookkeeping. */
export interface StreamHooks {
  readonly logger: StreamLogger;
  /** The durable tier, when one is configured. */
  readonly store?: EventStore;
  /** Shares streams with other instances, when one is configured. */
  readonly bus?: StreamBus;
  onFinish(stream: ResumableStream): void;
  onClientEnd(stream: ResumableStream, reason: ClientEndReason): void;
  /** An event was appended (produced here or received from the bus). */
  /** What every stream of the instance holds unstored together (`maxUnstoredBytesTotal`). */
  readonly unstored?: UnstoredPool;
  onAppend?(event: StreamEvent, stream: { readonly producedHere: boolean; readonly createdAt: number }): void;
  /** A client connected; `tier` is where its first event comes from, `outcome` how it was resumed. */
  onAttach?(tier: CatchupTier, outcome: ResumeOutcome): void;
  /** Where clients count the events they were written (and their bytes of data). */
  readonly delivered?: DeliveryCount;
  /** A client was refused with 204: it had the final event already. */
  onFullyDelivered?(): void;
  /** A write to the store committed after `ms`. */
  onStoreWrite?(ms: number, events: number): void;
  /** A followed stream received this event live from the bus. */
  onBusEvent?(event: BusEvent): void;
  /** The store no longer holds this stream (purged or deleted while a client read it). */
  onStoreGone?(streamId: string, epoch: string): void;
  /** Throws when the instance cannot take another client (`maxClients`). */
  assertClientCapacity?(): void;
  /** Called once a stream produced here has finished and its producer returned (per-stream first). */
  readonly finishHooks?: readonly StreamFinishedHook[];
}

/** A stream brought back from its stored metadata (no longer in memory, or the process restarted). */
export interface RestoredStreamState {
  /** Marks a restored stream. */
  readonly kind?: 'restored';
  /** The stored epoch. */
  readonly epoch: string;
  /** The last stored sequence. */
  readonly lastSequence: number;
  /** The stored state; a stream stored as running was interrupted. */
  readonly state: StreamState;
  /** When it finished (ms since the epoch), if it did. */
  readonly finishedAt: number | undefined;
}

/** A local copy of a stream produced on another instance, fed by the bus. */
export interface FollowedStreamState {
  /** Marks a followed stream. */
  readonly kind: 'follower';
  /** The epoch the producer gave the stream. */
  readonly epoch: string;
  /** The bus holds events after this sequence; older ones are in the store. */
  readonly startAfter: number;
  /** Every event up to this sequence is in the store. */
  readonly persistedThrough: number;
}
