import { StoreUnavailableError } from './errors.js';

/** Default of the registry's `maxUnstoredBytesTotal`. */
export const DEFAULT_MAX_UNSTORED_BYTES_TOTAL = 256 * 1024 * 1024;

/** Past this many times a limit, the stream fails at once: a producer that does not wait is stopped. */
const HARD_FACTOR = 2;

/**
 * The unstored bytes of every stream of one registry together, against `maxUnstoredBytesTotal`.
 * Tells each stream when the total crosses the limit, either way.
 */
export class UnstoredPool {
  private total = 0;
  private readonly members = new Set<UnstoredLimit>();

  constructor(readonly maxBytes: number) {}

  /** Bytes of event data sent and not yet stored, all streams of this instance. */
  get bytes(): number {
    return this.total;
  }

  get over(): boolean {
    return this.total > this.maxBytes;
  }

  get overHard(): boolean {
    return this.total > this.maxBytes * HARD_FACTOR;
  }

  join(member: UnstoredLimit): void {
    this.members.add(member);
  }

  leave(member: UnstoredLimit): void {
    this.members.delete(member);
  }

  add(delta: number): void {
    const wasOver = this.over;
    this.total += delta;
    // Only a crossing concerns the others: a stream checks the pool itself on its own changes.
    if (wasOver !== this.over) for (const member of this.members) member.changed();
  }
}

/** What an {@link UnstoredLimit} watches and whom it stops. */
export interface UnstoredLimitOptions {
  /** Bytes of this stream's event data sent and not yet stored. */
  readonly unstoredBytes: () => number;
  readonly isFinished: () => boolean;
  readonly maxBytes: number;
  /** 0: never on time. */
  readonly failAfterMs: number;
  readonly pool: UnstoredPool | undefined;
  /** Ends the stream; called at most once. */
  readonly fail: (error: StoreUnavailableError) => void;
}

/**
 * Bounds what one stream holds unstored while its store fails or lags: over the limit (its own,
 * or the instance's) its producer is held back (`writable()`); over it for `failAfterMs`, or past
 * twice it, the stream fails, rather than the process running out of memory.
 */
export class UnstoredLimit {
  private reported = 0;
  private waiters: (() => void)[] = [];
  private failTimer: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(private readonly options: UnstoredLimitOptions) {
    options.pool?.join(this);
  }

  /** Whether the producer should wait: this stream or the instance is over its unstored limit. */
  get blocked(): boolean {
    return this.reported > this.options.maxBytes || (this.options.pool?.over ?? false);
  }

  /** Resolves once the producer may send again (under the limits), or the stream has finished. */
  writable(): Promise<void> {
    if (!this.blocked || this.options.isFinished() || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Called after every append and every commit: recounts, then holds back, releases or fails. */
  changed(): void {
    const bytes = this.options.unstoredBytes();
    const delta = bytes - this.reported;
    // Set before the pool hears of it: a crossing calls every member back, this one too.
    this.reported = bytes;
    this.options.pool?.add(delta);
    if (this.failed) return;
    const { maxBytes, failAfterMs, pool } = this.options;
    const finished = this.options.isFinished();
    if (!finished && (bytes > maxBytes * HARD_FACTOR || (bytes > 0 && pool?.overHard))) {
      const which =
        bytes > maxBytes * HARD_FACTOR ? `maxUnstoredBytes (${maxBytes})` : `maxUnstoredBytesTotal (${pool!.maxBytes})`;
      return this.trip(`more than twice ${which} not stored`);
    }
    const holding = this.blocked && bytes > 0 && !finished;
    if (!holding) {
      clearTimeout(this.failTimer);
      this.failTimer = undefined;
      if (!this.blocked || finished) this.release();
    } else if (!this.failTimer && failAfterMs > 0) {
      const which = bytes > maxBytes ? 'maxUnstoredBytes' : 'maxUnstoredBytesTotal';
      this.failTimer = setTimeout(() => this.trip(`over ${which} for ${failAfterMs} ms`), failAfterMs).unref();
    }
  }

  /** The stream is dropped: its bytes leave memory, and the pool. */
  dispose(): void {
    clearTimeout(this.failTimer);
    this.options.pool?.add(-this.reported);
    this.options.pool?.leave(this);
    this.reported = 0;
    this.release();
  }

  private trip(why: string): void {
    // Set first: failing appends the final event, which comes back here.
    this.failed = true;
    clearTimeout(this.failTimer);
    this.release();
    this.options.fail(new StoreUnavailableError(why));
  }

  private release(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
