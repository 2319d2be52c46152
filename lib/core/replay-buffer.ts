import type { StreamEvent } from './stream-event.js';

/** Limits of a {@link ReplayBuffer}; the oldest events are dropped when either is exceeded. */
export interface ReplayBufferLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/**
 * The events of one stream that are still held in memory: a contiguous run of sequences, oldest
 * first. Appending and dropping from the front are amortised O(1), and so is lookup by sequence,
 * since sequences are contiguous.
 */
export class ReplayBuffer {
  /** Held events from `head` on; slots before it are emptied as events are dropped. */
  private items: (StreamEvent | undefined)[] = [];
  /** Bytes appended ever, through each held event (parallel to items). */
  private ends: number[] = [];
  private head = 0;
  private totalBytes = 0;
  private appendedBytes = 0;
  private evictedThrough = 0;
  private evictedThroughEnd = 0;

  /**
   * @param canEvict whether the oldest event may leave memory yet (with a store: once it is
   *   stored). Limits are exceeded rather than an event lost.
   * @param startAfter the sequence before the first event this buffer will hold.
   */
  constructor(
    private readonly limits: ReplayBufferLimits,
    private readonly canEvict: (sequence: number) => boolean = () => true,
    startAfter = 0,
  ) {
    this.evictedThrough = startAfter;
  }

  /** Number of events held. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Bytes of data held (UTF-8). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Sequence of the oldest event held, or the next sequence to come when empty. */
  get firstSequence(): number {
    return this.size > 0 ? this.items[this.head]!.sequence : this.evictedThrough + 1;
  }

  /** Sequence of the newest event held, or of the last event dropped when empty. */
  get lastSequence(): number {
    return this.size > 0 ? this.items[this.items.length - 1]!.sequence : this.evictedThrough;
  }

  /**
   * Appends the next event (its sequence must follow the last one) and enforces the limits.
   * Returns true when the limits are still exceeded because held events may not be evicted yet.
   */
  append(event: StreamEvent): boolean {
    if (event.sequence !== this.lastSequence + 1) {
      throw new Error(`ReplayBuffer: sequence ${event.sequence} does not follow ${this.lastSequence}`);
    }
    this.items.push(event);
    this.appendedBytes += event.bytes;
    this.ends.push(this.appendedBytes);
    this.totalBytes += event.bytes;
    return this.trim();
  }

  /**
   * Drops the oldest events while the limits are exceeded and they may leave memory (the newest
   * always stays). Returns true when the limits are still exceeded. Called after each append, and
   * after a store write, which may let events go that could not go when they were appended.
   */
  trim(): boolean {
    while (this.size > 1 && this.overLimits() && this.canEvict(this.items[this.head]!.sequence)) {
      this.dropOldest();
    }
    return this.overLimits();
  }

  /** The held events from `from` through `to`, oldest first. */
  slice(from: number, to: number): StreamEvent[] {
    const start = this.head + Math.max(0, from - this.firstSequence);
    const end = this.head + Math.min(this.size, to - this.firstSequence + 1);
    return this.items.slice(start, Math.max(start, end)) as StreamEvent[];
  }

  private overLimits(): boolean {
    return this.size > this.limits.maxEvents || this.totalBytes > this.limits.maxBytes;
  }

  /** The event with this sequence, or undefined when it is not (or no longer) held. */
  get(sequence: number): StreamEvent | undefined {
    const offset = sequence - this.firstSequence;
    return offset >= 0 && offset < this.size ? this.items[this.head + offset] : undefined;
  }

  /**
   * Bytes of data appended ever, through the event with this sequence, or undefined when that
   * position is not known any more (older than the buffer). With the total, a client's backlog.
   */
  endOffset(sequence: number): number | undefined {
    if (sequence === this.evictedThrough) return this.evictedThroughEnd;
    const offset = sequence - this.firstSequence;
    return offset >= 0 && offset < this.size ? this.ends[this.head + offset] : undefined;
  }

  /**
   * Forgets everything held and continues after `sequence`: for a follower whose source lost
   * events, so that clients needing them are told (never handed a sequence with a hole).
   */
  skipTo(sequence: number): void {
    this.items = [];
    this.ends = [];
    this.head = 0;
    this.totalBytes = 0;
    this.evictedThrough = sequence;
    this.evictedThroughEnd = this.appendedBytes;
  }

  /** Drops every event up to and including `sequence`; returns how many were dropped. */
  dropThrough(sequence: number): number {
    let dropped = 0;
    while (this.size > 0 && this.items[this.head]!.sequence <= sequence) {
      this.dropOldest();
      dropped++;
    }
    return dropped;
  }

  private dropOldest(): void {
    const event = this.items[this.head]!;
    this.totalBytes -= event.bytes;
    this.evictedThrough = event.sequence;
    this.evictedThroughEnd = this.ends[this.head];
    // Released now, not at the next compaction: a dropped 1 MiB event must not stay reachable.
    this.items[this.head] = undefined;
    this.head++;
    // Compact once the dropped prefix dominates, so the arrays do not grow without bound.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.head = 0;
    }
  }
}
