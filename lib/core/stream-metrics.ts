import type { StreamRegistryStats } from './registry-options.js';
import type { StreamState } from './stream-event.js';

/** What a registry's figures are summed over: its streams. */
interface MeasuredStream {
  readonly state: StreamState;
  readonly clientCount: number;
  readonly buffered: { readonly events: number; readonly bytes: number };
}

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

  /** Counts one client, whose first event comes from `tier`. */
  attached(tier: CatchupTier): void {
    this.clientsAttached++;
    this.catchup[tier]++;
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
  snapshot(streams: Iterable<MeasuredStream>, streamsCreated: number): Omit<StreamRegistryStats, 'unstoredBytes'> {
    const byState: Record<StreamState, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    let count = 0;
    let clients = 0;
    let bufferedEvents = 0;
    let bufferedBytes = 0;
    for (const stream of streams) {
      count++;
      byState[stream.state]++;
      clients += stream.clientCount;
      const buffered = stream.buffered;
      bufferedEvents += buffered.events;
      bufferedBytes += buffered.bytes;
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
    };
  }
}
