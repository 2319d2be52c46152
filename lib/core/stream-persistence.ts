import { StreamProducedElsewhereError } from './errors.js';
import type { EventStore, PersistFunction, StoredStreamMeta } from './event-store.js';
import type { StreamLogger } from './logger.js';
import type { StreamEvent } from './stream-event.js';
import type { UnstoredLimit } from './unstored-limit.js';

/** First delay before a failed background write is retried; each failed retry doubles it, up to the maximum. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 30_000;

/** How a stream writes to its store on its own. */
export interface AutoPersistOptions {
  /** Write once this many events are unwritten (0: never on count). */
  readonly everyEvents: number;
  /** Write unwritten events this often, in ms (0: never on time). */
  readonly everyMs: number;
  /** Write when the stream finishes. */
  readonly onFinish: boolean;
  /**
   * Group commit (`durability: 'commit'`): write this many ms after an event arrives, and at once
   * after a write for what arrived during it (0: off).
   */
  readonly groupCommitMs?: number;
}

/** What persistence needs from its stream. */
export interface PersistableStream {
  readonly id: string;
  readonly lastSequence: number;
  meta(): StoredStreamMeta;
  /** Buffered events in this range, oldest first (all must still be held). */
  eventsBetween(fromSequence: number, toSequence: number): StreamEvent[];
  /** Drops buffered events through this sequence. */
  dropThrough(sequence: number): number;
  /** Drops the oldest buffered events while the buffer is over its limits and they are stored. */
  trimToLimits(): void;
}

/** How a stream's persistence is set up. */
export interface StreamPersistenceOptions {
  readonly stream: PersistableStream;
  /** The store; none: nothing is written (a persist function may still be given to each call). */
  readonly store: EventStore | undefined;
  readonly auto: AutoPersistOptions;
  readonly logger: StreamLogger;
  /** Every event up to this sequence is stored already. Default 0. */
  readonly storedThrough?: number;
  /** Read-only: served from the store, or followed from its producer, which writes it. Default false. */
  readonly readOnly?: boolean;
  /** After each commit: how far the store now holds the stream. */
  readonly onPersisted?: (throughSequence: number) => void;
  /** A failure no retry can mend (the id belongs to another stream in the store). */
  readonly onFatal?: (error: Error) => void;
  /** Bounds what is held unstored; told of every append (commits reach it through `onPersisted`). */
  readonly unstored?: UnstoredLimit;
  /** After each write to the store committed: how long it took (ms) and how many events it wrote. */
  readonly onWrite?: (ms: number, events: number) => void;
}

/** What one persist call did. */
export interface PersistResult {
  /** Events written by this call. */
  readonly persisted: number;
  /** Events removed from memory by this call (persistAndClear only). */
  readonly cleared: number;
  /** Every event up to this sequence is in the store. */
  readonly persistedThrough: number;
}

/**
 * Writes a stream's events to its store, one write at a time: a watermark is fixed when a write
 * starts, exactly the events up to it are written in one transaction, and only after the commit
 * are they counted as stored (and, for persistAndClear, removed from memory). Events sent while a
 * write runs wait for the next one; a failed write leaves everything in memory.
 */
export class StreamPersistence {
  private stored = 0;
  /** A follower's persistence: it reads the store but never writes it (the producer does). */
  private readonly readOnly: boolean;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = RETRY_FIRST_MS;
  private countTriggerPending = false;
  /** A group commit is scheduled or running. */
  private commitPending = false;
  /** A failed write waits for its retry: no group commit meanwhile (the retry writes it all). */
  private retrying = false;
  /** A failure no retry can mend (the id belongs to another stream in the store). */
  private fatal: Error | undefined;

  private readonly stream: PersistableStream;
  private readonly store: EventStore | undefined;
  private readonly auto: AutoPersistOptions;
  private readonly logger: StreamLogger;
  private readonly onPersisted?: (throughSequence: number) => void;
  private readonly onFatal?: (error: Error) => void;
  private readonly unstored?: UnstoredLimit;
  private readonly onWrite?: (ms: number, events: number) => void;

  constructor(options: StreamPersistenceOptions) {
    this.stream = options.stream;
    this.store = options.store;
    this.auto = options.auto;
    this.logger = options.logger;
    this.onPersisted = options.onPersisted;
    this.onFatal = options.onFatal;
    this.unstored = options.unstored;
    this.onWrite = options.onWrite;
    this.stored = options.storedThrough ?? 0;
    this.readOnly = options.readOnly ?? false;
    if (this.store && !this.readOnly && this.auto.everyMs > 0) {
      this.timer = setInterval(() => this.background(), this.auto.everyMs).unref();
    }
  }

  /** Every event up to this sequence is in the store. */
  get persistedThrough(): number {
    return this.stored;
  }

  get hasStore(): boolean {
    return this.store !== undefined;
  }

  /** Whether an event may leave memory: with a store, only once it is stored. */
  canEvict(sequence: number): boolean {
    return !this.store || this.readOnly || this.fatal !== undefined || sequence <= this.stored;
  }

  /** Called after every append: starts a background write when enough events are unwritten. */
  afterAppend(overBufferLimits: boolean): void {
    if (!this.store || this.readOnly) return;
    this.unstored?.changed();
    this.scheduleGroupCommit();
    if (this.countTriggerPending) return;
    const unwritten = this.stream.lastSequence - this.stored;
    const due = this.auto.everyEvents > 0 && unwritten >= this.auto.everyEvents;
    if (due || overBufferLimits) {
      this.countTriggerPending = true;
      this.background().finally(() => (this.countTriggerPending = false));
    }
  }

  /** Called once the stream has finished: the final write, and no more timers. */
  async afterFinish(): Promise<void> {
    clearInterval(this.timer);
    if (this.store && !this.readOnly && this.auto.onFinish) await this.background();
  }

  /** Writes every event up to now; keeps them in memory. */
  persist(writer?: PersistFunction): Promise<PersistResult> {
    return this.enqueue(false, writer);
  }

  /** Writes every event up to now, then removes exactly those from memory. */
  persistAndClear(writer?: PersistFunction): Promise<PersistResult> {
    return this.enqueue(true, writer);
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    this.unstored?.dispose();
  }

  /** Resolves once the producer may send again: the stream is under its unstored limits (see `UnstoredLimit`). */
  writable(): Promise<void> {
    return this.unstored?.writable() ?? Promise.resolve();
  }

  /** Group commit: one write in flight; what arrives meanwhile goes in the next, right after it. */
  private scheduleGroupCommit(delayMs = this.auto.groupCommitMs ?? 0): void {
    if (!this.auto.groupCommitMs || this.commitPending || this.retrying || this.fatal) return;
    if (this.stream.lastSequence <= this.stored) return;
    this.commitPending = true;
    const commit = () =>
      void this.background().finally(() => {
        this.commitPending = false;
        // What arrived during the write has waited already.
        this.scheduleGroupCommit(0);
      });
    // Not unref'd: clients wait for this write, and it is pending only while events are unwritten.
    if (delayMs > 0) setTimeout(commit, delayMs);
    else commit();
  }

  /** A follower learns how far the producer has stored. */
  advanceTo(throughSequence: number): void {
    this.stored = Math.max(this.stored, throughSequence);
  }

  /**
   * After a failed write, reads back how far the store really is: a write can commit and still
   * fail on the way back (the connection dropped before the reply). Without this, every retry
   * would start at an event the store already holds and be refused, for ever.
   */
  private async catchUpWithStore(store: EventStore): Promise<void> {
    try {
      const meta = await store.loadMeta(this.stream.id);
      if (meta && meta.epoch === this.stream.meta().epoch && meta.lastSequence > this.stored) {
        this.stored = Math.min(meta.lastSequence, this.stream.lastSequence);
        this.onPersisted?.(this.stored);
      }
    } catch {
      // The store is still unreachable: the next retry looks again.
    }
  }

  /** `retry`: run by the retry timer; only its failures lengthen the delay (other writes fail as often as they are due). */
  private background(retry = false): Promise<void> {
    return this.persist().then(
      () => {
        this.retryDelayMs = RETRY_FIRST_MS;
        if (!this.retrying) return;
        this.retrying = false;
        // A retry succeeded: what arrived while it waited is written now.
        this.scheduleGroupCommit(0);
      },
      (error: unknown) => {
        if (this.fatal) return;
        this.retrying = true;
        this.logger.error(
          `Stream ${this.stream.id}: writing events to the store failed; they stay in memory and the write is retried in ${this.retryDelayMs} ms. ${String(error)}`,
          error instanceof Error ? error.stack : undefined,
        );
        // Retried until it succeeds, also after the stream finished (no other write would come).
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => void this.background(true), this.retryDelayMs);
        this.retryTimer.unref();
        if (retry) this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_MS);
      },
    );
  }

  private enqueue(clear: boolean, writer: PersistFunction | undefined): Promise<PersistResult> {
    const run = () => this.write(clear, writer);
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async write(clear: boolean, writer: PersistFunction | undefined): Promise<PersistResult> {
    if (this.readOnly && !writer) {
      // Served from the store (or a follower its producer has stored for): nothing left to write.
      if (this.stream.lastSequence <= this.stored) {
        const cleared = clear ? this.stream.dropThrough(this.stored) : 0;
        return { persisted: 0, cleared, persistedThrough: this.stored };
      }
      throw new StreamProducedElsewhereError(this.stream.id, 'persist()');
    }
    if (writer && this.store) {
      throw new Error(
        `Stream ${this.stream.id} has a store: persist()/persistAndClear() write to it. A persist function of your own would leave the store with a gap; use it only without a store.`,
      );
    }
    if (this.fatal) throw this.fatal;
    const store = this.store;
    const write: PersistFunction | undefined = writer ?? (store && ((events, meta) => store.append(meta, events)));
    if (!write) {
      throw new Error(`Stream ${this.stream.id} has no store: configure one, or pass a persist function.`);
    }
    const watermark = this.stream.lastSequence;
    const events = watermark > this.stored ? this.stream.eventsBetween(this.stored + 1, watermark) : [];
    const skipped = (events[0]?.sequence ?? watermark + 1) - this.stored - 1;
    if (skipped > 0) {
      this.logger.warn(
        `Stream ${this.stream.id}: ${skipped} event(s) left memory (buffer limits) before a persist function saw them. Persist more often, or raise bufferMaxEvents / bufferMaxBytes.`,
      );
    }
    if (events.length > 0) {
      const started = performance.now();
      try {
        await write(events, { ...this.stream.meta(), lastSequence: watermark });
      } catch (error) {
        if ((error as { code?: string }).code === 'STREAM_ALREADY_EXISTS') {
          this.fatal = error as Error;
          this.onFatal?.(this.fatal);
        } else if (store && !writer) {
          await this.catchUpWithStore(store);
        }
        throw error;
      }
      this.stored = Math.max(this.stored, watermark);
      if (!writer) this.onWrite?.(performance.now() - started, events.length);
      if (!writer) this.onPersisted?.(this.stored);
      // Events held past the limits only because they were not stored yet may go now.
      if (store && !writer) this.stream.trimToLimits();
    }
    const cleared = clear ? this.stream.dropThrough(this.stored) : 0;
    return { persisted: events.length, cleared, persistedThrough: this.stored };
  }
}
