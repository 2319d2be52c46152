import { InvalidStreamInputError } from './errors.js';
import type { EventStore, StaleStream } from './event-store.js';
import type { StreamLogger } from './logger.js';
import type { StreamBus } from './stream-bus.js';
import { isFinishedState } from './stream-event.js';
import type { ResumableStream } from './stream.js';

/** Streams deleted per transaction: a batch holds its locks briefly. */
const PURGE_BATCH_STREAMS = 100;
/** The purge runs at least this often, and at least as often as the retention itself. */
const MAX_PURGE_EVERY_MS = 60_000;

/** What one purge deleted from the store. */
export interface StorePurgeResult {
  /** Finished streams deleted (finished before the cutoff). */
  readonly finished: number;
  /** Interrupted streams deleted (stored as running, producer gone, not written since the cutoff). */
  readonly interrupted: number;
  /** Events deleted with them. */
  readonly events: number;
}

/** How a registry's store retention is set up. */
export interface StoreRetentionOptions {
  readonly store: EventStore | undefined;
  readonly bus: StreamBus | undefined;
  /** `storeRetentionMs`: undefined for off. */
  readonly retentionMs: number | undefined;
  /** `storePurgeEveryMs`: default min(retentionMs, 60 s). */
  readonly everyMs: number | undefined;
  readonly logger: StreamLogger;
  /** The registry's streams in memory. */
  readonly streams: ReadonlyMap<string, ResumableStream>;
  /** Drops a stream from the registry's memory, ending its clients here. */
  remove(streamId: string): boolean;
}

/** Checks `storeRetentionMs` and `storePurgeEveryMs`: undefined, or a whole number of ms >= 1. */
export function assertStoreRetention(retentionMs: unknown, everyMs: unknown): void {
  for (const [name, value] of Object.entries({ storeRetentionMs: retentionMs, storePurgeEveryMs: everyMs })) {
    if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 1)) {
      throw new InvalidStreamInputError(
        `Option ${name} must be a whole number of milliseconds >= 1 (or left out to turn store retention off), got ${String(value)}.`,
      );
    }
  }
}

/**
 * Deletes from the store what is past `storeRetentionMs`, on a timer: streams finished before
 * the cutoff, and interrupted ones (stored as running, not written since the cutoff, and running
 * neither here nor, per the bus, anywhere else). In batches of a few streams, each its own
 * transaction; one run at a time (the next is scheduled when one ends).
 */
export class StoreRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<StorePurgeResult> | undefined;
  private stopped = false;
  private readonly everyMs: number;

  constructor(private readonly options: StoreRetentionOptions) {
    assertStoreRetention(options.retentionMs, options.everyMs);
    const { retentionMs = 0 } = options;
    this.everyMs = options.everyMs ?? Math.min(retentionMs, MAX_PURGE_EVERY_MS);
  }

  /** Whether the store can purge (it has `purgeFinished`). */
  private get supported(): boolean {
    return typeof this.options.store?.purgeFinished === 'function';
  }

  /** Starts the timer when retention is on; warns once when the store cannot purge. */
  start(): void {
    const { retentionMs, store, logger } = this.options;
    if (retentionMs === undefined) return;
    if (!store || !this.supported) {
      logger.warn(
        `storeRetentionMs is set, but ${store ? 'the store has no purgeFinished() method' : 'no store is configured'}: store retention is off, nothing is deleted from the store.`,
      );
      return;
    }
    if (!store.listStale || !store.deleteStream) {
      logger.warn(
        'storeRetentionMs: the store has no listStale() or deleteStream() method: finished streams are purged, interrupted ones are kept.',
      );
    }
    this.schedule();
  }

  /**
   * The store no longer holds this stream (purged, deleted): drop the copy held in memory, unless
   * it runs here, so that its clients reconnect to a 404. With `epoch`, only that history's copy.
   */
  letGo(streamId: string, epoch?: string): void {
    const stream = this.options.streams.get(streamId);
    if (!stream || (epoch !== undefined && stream.epoch !== epoch) || this.runsHere(streamId)) return;
    this.options.remove(streamId);
  }

  /** Stops the timer and waits for a purge under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /**
   * Runs a purge now (or joins the one under way): batches until nothing is due. Resolves what
   * it deleted; with retention off or a store that cannot purge, nothing.
   */
  purge(now = Date.now()): Promise<StorePurgeResult> {
    this.running ??= this.purgeAll(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.purge()
        .then(
          (result) => {
            if (result.finished + result.interrupted > 0) {
              this.options.logger.debug?.(
                `Store retention: deleted ${result.finished} finished and ${result.interrupted} interrupted stream(s), ${result.events} event(s).`,
              );
            }
          },
          (error: unknown) =>
            this.options.logger.warn(
              `Store retention: the purge failed; it runs again in ${this.everyMs} ms. ${String(error)}`,
            ),
        )
        .finally(() => this.schedule());
    }, this.everyMs);
    this.timer.unref();
  }

  private async purgeAll(now: number): Promise<StorePurgeResult> {
    const { store, retentionMs } = this.options;
    if (retentionMs === undefined || !store?.purgeFinished) return { finished: 0, interrupted: 0, events: 0 };
    const before = new Date(now - retentionMs);
    let finished = 0;
    let events = 0;
    for (;;) {
      const batch = await store.purgeFinished({ before, limit: PURGE_BATCH_STREAMS });
      finished += batch.streamIds.length;
      events += batch.events;
      batch.streamIds.forEach((id) => this.letGo(id));
      // A store may delete fewer than asked (the TypeORM store bounds a batch's events too).
      if (batch.streamIds.length === 0 || this.stopped) break;
    }
    const interrupted = await this.purgeInterrupted(store, before);
    return { finished, interrupted: interrupted.streams, events: events + interrupted.events };
  }

  /** Streams stored as running and not written since `before`, whose producer is gone. */
  private async purgeInterrupted(store: EventStore, before: Date): Promise<{ streams: number; events: number }> {
    let streams = 0;
    let events = 0;
    if (!store.listStale || !store.deleteStream) return { streams, events };
    let after: StaleStream | undefined;
    while (!this.stopped) {
      const stale = await store.listStale({ before, limit: PURGE_BATCH_STREAMS, after });
      for (const { streamId } of stale) {
        if (this.stopped) break;
        if (!(await this.producerGone(streamId))) continue;
        // Only while still stale: a producer that wrote meanwhile keeps its stream.
        const deleted = await store.deleteStream(streamId, { staleBefore: before });
        streams += deleted.streamIds.length;
        events += deleted.events;
        deleted.streamIds.forEach((id) => this.letGo(id));
      }
      if (stale.length < PURGE_BATCH_STREAMS) break;
      after = stale.at(-1);
    }
    return { streams, events };
  }

  /** Whether this registry produces the stream and it still runs. */
  private runsHere(streamId: string): boolean {
    const stream = this.options.streams.get(streamId);
    return stream !== undefined && stream.producedHere && !stream.isFinished;
  }

  /** Running neither here nor, as the bus tells, on another instance. */
  private async producerGone(streamId: string): Promise<boolean> {
    if (this.runsHere(streamId)) return false;
    const info = await this.options.bus?.lookup(streamId);
    return !info || isFinishedState(info.status);
  }
}
