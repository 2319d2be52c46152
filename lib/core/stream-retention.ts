import type { EventStore } from './event-store.js';
import type { ResumableStream } from './stream.js';

/** How often a stream past its retention is looked at again while it cannot be removed yet. */
const RETENTION_RECHECK_MS = 1_000;

/** What retention needs from its registry. */
export interface RetainingRegistry {
  readonly store: EventStore | undefined;
  get(id: string): ResumableStream | undefined;
  remove(id: string): boolean;
}

/** The retention timers of a registry's finished streams: one timer per stream, removed with it. */
export class StreamRetention {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly registry: RetainingRegistry) {}

  /** Whether a removal is scheduled for this stream. */
  has(id: string): boolean {
    return this.timers.has(id);
  }

  /** Cancels the scheduled removal of this stream, if any. */
  cancel(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  /** Cancels every scheduled removal. */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /**
   * Forgets a finished stream after its retention, but never while its writes are still retried,
   * and not while clients still attached here keep catching up: removing it would cut them in the
   * middle of their replay. Clients that stopped moving for a whole check are cut (they resume
   * from the store, if any, when they reconnect).
   */
  schedule(stream: ResumableStream, delayMs = stream.options.retentionMs, lastProgress?: string): void {
    this.cancel(stream.id);
    const timer = setTimeout(() => {
      this.timers.delete(stream.id);
      if (this.registry.get(stream.id) !== stream) return;
      if (this.registry.store && !stream.follower && stream.persistedThrough < stream.lastSequence) {
        this.schedule(stream, RETENTION_RECHECK_MS);
        return;
      }
      const progress = stream.clientProgress;
      if (progress !== '' && progress !== lastProgress) {
        this.schedule(stream, RETENTION_RECHECK_MS, progress);
        return;
      }
      this.registry.remove(stream.id);
    }, delayMs);
    timer.unref();
    this.timers.set(stream.id, timer);
  }

  /**
   * Lets go of a followed stream once no client of this instance has read it for `idleMs`: its
   * copy here is dropped and its share of the bus freed (a later client follows it again).
   */
  dropWhenIdle(stream: ResumableStream, idleMs: number): void {
    // A running follower has no retention timer: a timer held is the previous idle one.
    if (stream.isFinished) return;
    this.cancel(stream.id);
    const timer = setTimeout(() => {
      if (this.timers.get(stream.id) === timer) this.timers.delete(stream.id);
      const idle = this.registry.get(stream.id) === stream && !stream.isFinished && stream.clientCount === 0;
      if (idle) this.registry.remove(stream.id);
    }, idleMs);
    timer.unref();
    this.timers.set(stream.id, timer);
  }
}
