import { eventFromFrame, readableFromFrame } from './segment-events.js';
import { chunkHeadBytes, SegmentFrames } from './segment-frames.js';
import { SegmentIndex } from './segment-index.js';
import { adoptFrame, formatSseMessage } from './sse-frame.js';
import type { StreamEvent } from './stream-event.js';

/** Limits of a {@link ReplayBuffer}; the oldest events are dropped when either is exceeded. */
export interface ReplayBufferLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/** What an event that cannot be read back from its frame costs besides it: its object and data. */
const KEPT_EVENT_BYTES = 128;

/**
 * The events of one stream that are still held in memory: a contiguous run of sequences, oldest
 * first. Each event is held as its SSE frame, written once into the stream's segments (see
 * {@link SegmentFrames}), and 20 bytes of index: no object per event. An event read from it is
 * made from its frame, once per turn of the event loop however many clients read it; the frames
 * clients write are views into the segments. Appending, dropping from the front and lookup by
 * sequence are amortised O(1).
 */
export class ReplayBuffer {
  private readonly frames = new SegmentFrames();
  private readonly index = new SegmentIndex();
  /** Events that cannot be read back from their frame (CR in data, ...): held whole. */
  private kept: Map<number, StreamEvent> | undefined;
  /** Event objects handed out this turn, by sequence: every client reading one gets the same. */
  private recent: Map<number, StreamEvent> | undefined;
  /** The last of them: what every live client reads next, found without a lookup. */
  private latest: StreamEvent | undefined;
  private epoch: string | undefined;
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
    return this.index.size;
  }

  /** Bytes held for the events: their frames (HTTP/1.1 chunked) and their index. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Sequence of the oldest event held, or the next sequence to come when empty. */
  get firstSequence(): number {
    return this.evictedThrough + 1;
  }

  /** Sequence of the newest event held, or of the last event dropped when empty. */
  get lastSequence(): number {
    return this.evictedThrough + this.index.size;
  }

  /**
   * Appends the next event (its sequence must follow the last one) and enforces the limits.
   * Returns true when the limits are still exceeded because held events may not be evicted yet.
   */
  append(event: StreamEvent): boolean {
    if (event.sequence !== this.lastSequence + 1) {
      throw new Error(`ReplayBuffer: sequence ${event.sequence} does not follow ${this.lastSequence}`);
    }
    this.epoch ??= event.epoch;
    const text = formatSseMessage(event);
    const length = Buffer.byteLength(text);
    const { frames } = this;
    frames.append(text, length, this.totalBytes);
    this.appendedBytes += event.bytes;
    this.index.push(frames.lastSegment, frames.lastStart, length, this.appendedBytes);
    this.totalBytes += heldBytes(length);
    if (!readableFromFrame(event, this.epoch)) {
      (this.kept ??= new Map()).set(event.sequence, event);
      this.totalBytes += KEPT_EVENT_BYTES + event.bytes;
    }
    this.handOut(event, frames.lastSegment, frames.lastStart, length);
    return this.trim();
  }

  /**
   * Drops the oldest events while the limits are exceeded and they may leave memory (the newest
   * always stays). Returns true when the limits are still exceeded. Called after each append, and
   * after a store write, which may let events go that could not go when they were appended.
   */
  trim(): boolean {
    while (this.size > 1 && this.overLimits() && this.canEvict(this.firstSequence)) this.dropOldest();
    return this.overLimits();
  }

  /** The held events from `from` through `to`, oldest first. */
  slice(from: number, to: number): StreamEvent[] {
    const events: StreamEvent[] = [];
    const last = Math.min(to, this.lastSequence);
    for (let sequence = Math.max(from, this.firstSequence); sequence <= last; sequence++) {
      events.push(this.get(sequence)!);
    }
    return events;
  }

  private overLimits(): boolean {
    return this.size > this.limits.maxEvents || this.totalBytes > this.limits.maxBytes;
  }

  /** The event with this sequence, or undefined when it is not (or no longer) held. */
  get(sequence: number): StreamEvent | undefined {
    const offset = sequence - this.firstSequence;
    // `| 0` also turns away NaN and fractions.
    if (offset < 0 || offset >= this.size || (offset | 0) !== offset) return undefined;
    if (this.latest?.sequence === sequence) return this.latest;
    const event = this.recent?.get(sequence) ?? this.kept?.get(sequence);
    if (event) return event;
    const { index } = this;
    const segment = index.segment(offset);
    const start = index.start(offset);
    const length = index.length(offset);
    const bytes = index.end(offset) - (offset > 0 ? index.end(offset - 1) : this.evictedThroughEnd);
    const made = eventFromFrame(this.frames.frame(segment, start, length), sequence, this.epoch!, bytes);
    this.handOut(made, segment, start, length);
    return made;
  }

  /**
   * Bytes of data appended ever, through the event with this sequence, or undefined when that
   * position is not known any more (older than the buffer). With the total, a client's backlog.
   */
  endOffset(sequence: number): number | undefined {
    if (sequence === this.evictedThrough) return this.evictedThroughEnd;
    const offset = sequence - this.firstSequence;
    return offset >= 0 && offset < this.size && (offset | 0) === offset ? this.index.end(offset) : undefined;
  }

  /**
   * Forgets everything held and continues after `sequence`: for a follower whose source lost
   * events, so that clients needing them are told (never handed a sequence with a hole).
   */
  skipTo(sequence: number): void {
    this.index.clear();
    this.frames.clear();
    this.kept = undefined;
    this.forgetRecent();
    this.totalBytes = 0;
    this.evictedThrough = sequence;
    this.evictedThroughEnd = this.appendedBytes;
  }

  /** Drops every event up to and including `sequence`; returns how many were dropped. */
  dropThrough(sequence: number): number {
    let dropped = 0;
    while (this.size > 0 && this.firstSequence <= sequence) {
      this.dropOldest();
      dropped++;
    }
    return dropped;
  }

  /** @internal Lets go of the event objects handed out this turn. */
  forgetRecent(): void {
    this.recent = undefined;
    this.latest = undefined;
  }

  private dropOldest(): void {
    const { index } = this;
    const sequence = this.firstSequence;
    this.totalBytes -= heldBytes(index.length(0));
    const kept = this.kept?.get(sequence);
    if (kept) {
      this.kept!.delete(sequence);
      this.totalBytes -= KEPT_EVENT_BYTES + kept.bytes;
    }
    this.recent?.delete(sequence);
    if (this.latest?.sequence === sequence) this.latest = undefined;
    this.evictedThrough = sequence;
    this.evictedThroughEnd = index.end(0);
    index.shift();
    // A segment leaves memory once the oldest event held is in a later one.
    if (index.size > 0) this.frames.releaseBefore(index.segment(0));
    else this.frames.clear();
  }

  /** Gives the event its frame (a view into its segment) and remembers it for this turn. */
  private handOut(event: StreamEvent, segment: number, start: number, length: number): void {
    adoptFrame(event, this.frames.frame(segment, start, length), this.frames.chunk(segment, start, length));
    if (!this.recent) {
      this.recent = new Map();
      forgetAtTurnEnd(this);
    }
    this.recent.set(event.sequence, event);
    this.latest = event;
  }
}

/** Bytes held for a frame of `length` bytes: the frame chunked, and its index. */
function heldBytes(length: number): number {
  return chunkHeadBytes(length) + length + 2 + SegmentIndex.BYTES_PER_EVENT;
}

/** Buffers that handed out events this turn. */
let handedOut: ReplayBuffer[] = [];

function forgetAtTurnEnd(buffer: ReplayBuffer): void {
  if (handedOut.length === 0) setImmediate(forgetAll);
  handedOut.push(buffer);
}

function forgetAll(): void {
  const buffers = handedOut;
  handedOut = [];
  for (const buffer of buffers) buffer.forgetRecent();
}
