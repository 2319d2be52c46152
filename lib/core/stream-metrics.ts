import type { StreamRegistryStats } from './registry-options.js';
import type { ResumeOutcome } from './resume.js';
import type { StreamState } from './stream-event.js';
import type { StreamHooks } from './stream-origin.js';

/** What a registry's figures are summed over: its streams. */
interface MeasuredStream {
  readonly state: StreamState;
  readonly clientCount: number;
  readonly buffered: { readonly events: number; readonly bytes: number };
  readonly producedHere: boolean;
  readonly lastSequence: number;
  readonly persistedThrough: number;
}

/** How a client's request to connect ended: how it was resumed, or 204 (it had every event). */
export type ResumeCount = ResumeOutcome | 'fully_delivered';

/**
 * Timings as they happen, for a metrics library's histograms (`nestjs-meridian-stream/prometheus`
 * uses them); everything else is read from `stats()` when it is scraped. In seconds.
 */
export interface StreamTimingListener {
  /** A write of `events` events to the store committed after `seconds`. */
  storeWrite?(seconds: number, events: number): void;
  /**
   * A followed stream received an event live from the bus `seconds` after the bus took it from
   * its producer (this instance's clock against the bus's: see docs/metrics.md).
   */
  busLag?(seconds: number): void;
  /** A stream created here took its first event `seconds` after it was created. */
  firstEvent?(seconds: number): void;
}

/** The hooks through which streams report to their registry's metrics. */
type MeasuringHooks = Required<
  Pick<StreamHooks, 'onAppend' | 'delivered' | 'onFullyDelivered' | 'onStoreWrite' | 'onBusEvent'>
>;

/** Where a client's first event comes from when it connects. */
export type CatchupTier =
  /** Nothing to replay: it is up to date (or new and the stream has not sent anything yet). */
  | 'live'
  /** Replayed from the in-memory buffer. */
  | 'buffer'
  /** Read from the store (the events left memory). */
  | 'store'
  /** Its position could not be continued: it was sent a `reset` first. */
  | 'reset';

/** Where `locate()` found a stream that was not in this instance's memory. */
export type LocateSource = 'store' | 'bus';

/** Seconds over which `stats()` averages its rates. */
export const RATE_WINDOW_SECONDS = 10;

/**
 * Counters behind `StreamRegistry.stats()`: totals since start, and per-second rates averaged
 * over the last full {@link RATE_WINDOW_SECONDS} seconds, kept in a small ring of buckets.
 */
export class StreamMetrics {
  /** Events appended since start. */
  eventsTotal = 0;
  /** Bytes of data appended since start. */
  bytesTotal = 0;
  /** Clients connected since start. */
  clientsAttached = 0;
  /** Clients cut for being too slow since start. */
  slowClientDisconnects = 0;
  /** Clients connected since start, by where their first event came from. */
  readonly catchup: Record<CatchupTier, number> = { live: 0, buffer: 0, store: 0, reset: 0 };
  /** Streams brought into memory since start, by where they were found. */
  readonly located: Record<LocateSource, number> = { store: 0, bus: 0 };
  /** Clients since start by how they were resumed, and requests answered 204 (nothing left to send). */
  readonly resumes: Record<ResumeCount, number> = {
    fresh: 0,
    memory: 0,
    store: 0,
    bus: 0,
    reset: 0,
    fully_delivered: 0,
  };
  /** Events written to clients since start (each client counts), and their bytes of data. */
  readonly delivered = { events: 0, bytes: 0 };
  private readonly timings = new Set<StreamTimingListener>();
  /** What streams call; spread into the registry's stream hooks. */
  readonly hooks: MeasuringHooks = {
    onAppend: (event, stream) => {
      this.event(event.bytes);
      if (event.sequence === 1 && stream.producedHere) this.time('firstEvent', this.now() - stream.createdAt);
    },
    delivered: this.delivered,
    onFullyDelivered: () => this.resumes.fully_delivered++,
    onStoreWrite: (ms, events) => {
      for (const listener of this.timings) listener.storeWrite?.(ms / 1000, events);
    },
    onBusEvent: (event) => {
      if (event.producedAt !== undefined) this.time('busLag', Math.max(0, this.now() - event.producedAt));
    },
  };
  private readonly buckets = Array.from({ length: RATE_WINDOW_SECONDS + 1 }, () => ({
    second: -1,
    events: 0,
    bytes: 0,
  }));

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one event of `bytes` bytes of data. */
  event(bytes: number): void {
    this.eventsTotal++;
    this.bytesTotal += bytes;
    const bucket = this.bucket(Math.floor(this.now() / 1000));
    bucket.events++;
    bucket.bytes += bytes;
  }

  /** Counts one client, whose first event comes from `tier`, resumed as `outcome`. */
  attached(tier: CatchupTier, outcome: ResumeOutcome): void {
    this.clientsAttached++;
    this.catchup[tier]++;
    this.resumes[outcome]++;
  }

  /** Calls `listener` with each timing from now on; returns a function that stops it. */
  listen(listener: StreamTimingListener): () => void {
    this.timings.add(listener);
    return () => this.timings.delete(listener);
  }

  private time(kind: 'busLag' | 'firstEvent', ms: number): void {
    for (const listener of this.timings) listener[kind]?.(ms / 1000);
  }

  /** Events and bytes per second over the last full window (the current second is not over). */
  rates(): { eventsPerSecond: number; bytesPerSecond: number } {
    const current = Math.floor(this.now() / 1000);
    let events = 0;
    let bytes = 0;
    for (const bucket of this.buckets) {
      if (bucket.second < current && bucket.second >= current - RATE_WINDOW_SECONDS) {
        events += bucket.events;
        bytes += bucket.bytes;
      }
    }
    return { eventsPerSecond: events / RATE_WINDOW_SECONDS, bytesPerSecond: bytes / RATE_WINDOW_SECONDS };
  }

  private bucket(second: number) {
    const bucket = this.buckets[second % this.buckets.length];
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.events = 0;
      bucket.bytes = 0;
    }
    return bucket;
  }

  /** `stats()`: the figures of `streams` now, with the counters since start. */
  snapshot(
    streams: Iterable<MeasuredStream>,
    streamsCreated: number,
    hasStore: boolean,
  ): Omit<StreamRegistryStats, 'unstoredBytes'> {
    const byState: Record<StreamState, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    let count = 0;
    let clients = 0;
    let bufferedEvents = 0;
    let bufferedBytes = 0;
    let unstoredEvents = 0;
    for (const stream of streams) {
      count++;
      byState[stream.state]++;
      clients += stream.clientCount;
      const buffered = stream.buffered;
      bufferedEvents += buffered.events;
      bufferedBytes += buffered.bytes;
      if (hasStore && stream.producedHere) unstoredEvents += stream.lastSequence - stream.persistedThrough;
    }
    return {
      streams: count,
      byState,
      clients,
      bufferedEvents,
      bufferedBytes,
      streamsCreated,
      slowClientDisconnects: this.slowClientDisconnects,
      eventsTotal: this.eventsTotal,
      bytesTotal: this.bytesTotal,
      ...this.rates(),
      clientsAttached: this.clientsAttached,
      catchup: { ...this.catchup },
      located: { ...this.located },
      resumes: { ...this.resumes },
      clientEventsSent: this.delivered.events,
      clientBytesSent: this.delivered.bytes,
      unstoredEvents,
    };
  }
}
