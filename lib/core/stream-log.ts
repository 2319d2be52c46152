import { InvalidStreamInputError } from './errors.js';
import { formatEventId } from './event-id.js';
import { ReplayBuffer, type ReplayBufferLimits } from './replay-buffer.js';
import { assertSseField } from './sse-format.js';
import type { StreamEvent } from './stream-event.js';

/** Events after `after` carry `epoch` instead of the stream's own; ids of the stream's epoch past it name lost events. */
export interface EpochTail {
  readonly epoch: string;
  readonly after: number;
}

/**
 * A stream's history in this process: the sequence issued so far, the bytes ever sent, the events
 * still held (the replay buffer), and who waits for a sequence to be issued.
 */
export class StreamLog {
  /** Sequence of the last event taken in (0 before the first): what clients may see. */
  sequence: number;
  /** Sequence of the last event given a sequence (ahead of `sequence` while a bus has not taken them yet). */
  private issued: number;
  /** Bytes of data ever sent on the stream. */
  sentBytes = 0;
  readonly buffer: ReplayBuffer;
  private waiters: { readonly sequence: number; readonly resolve: () => void }[] = [];
  /** Set once events are issued under another epoch than the stream's (see `continueUnder`). */
  tail: EpochTail | undefined;

  constructor(
    private readonly epoch: string,
    startAfter: number,
    limits: ReplayBufferLimits,
    canEvict: (sequence: number) => boolean,
  ) {
    this.sequence = startAfter;
    this.issued = startAfter;
    this.buffer = new ReplayBuffer(limits, canEvict, startAfter);
  }

  /**
   * Issues and takes in the next event. Throws for a type with CR/LF/NUL or a bad `retry`.
   * `overLimits` is true when the buffer stays over its limits because held events may not leave
   * memory yet.
   */
  append(type: string, data: string, retry: number | undefined): { event: StreamEvent; overLimits: boolean } {
    const event = this.issue(type, data, retry);
    return { event, overLimits: this.accept(event) };
  }

  /**
   * Gives the next event its sequence without taking it in: with a bus it is taken in (`accept`)
   * once the bus holds it. Throws for a type with CR/LF/NUL or a bad `retry`.
   */
  issue(type: string, data: string, retry: number | undefined): StreamEvent {
    assertSseField('type', type);
    if (retry !== undefined && (!Number.isSafeInteger(retry) || retry < 0)) {
      throw new InvalidStreamInputError(`Event retry must be a whole number of ms >= 0, got ${String(retry)}.`);
    }
    const sequence = ++this.issued;
    const epoch = this.tail?.epoch ?? this.epoch;
    const id = formatEventId(epoch, sequence);
    const bytes = Buffer.byteLength(data);
    // Literals, not a spread: an event has one of two shapes, made without a temporary object.
    return retry === undefined
      ? Object.freeze({ id, type, data, sequence, epoch, bytes })
      : Object.freeze({ id, type, data, retry, sequence, epoch, bytes });
  }

  /** Takes in the next issued event; true when the buffer stays over its limits (see `append`). */
  accept(event: StreamEvent): boolean {
    const overLimits = this.buffer.append(event);
    this.sequence = event.sequence;
    this.sentBytes += event.bytes;
    if (this.waiters.length > 0) this.release(false);
    return overLimits;
  }

  /**
   * Issues the next events under `epoch`: a stream brought back after its producer's process died
   * ends under an epoch of its own, as ids after the stored ones may have reached clients already.
   */
  continueUnder(epoch: string): void {
    this.tail = { epoch, after: this.issued };
  }

  /** The id of the event with this sequence (0: the position before the first event). */
  idOf(sequence: number): string {
    return formatEventId(this.tail && sequence > this.tail.after ? this.tail.epoch : this.epoch, sequence);
  }

  /** Forgets events issued but not taken in: the next one issued follows the last one taken in. */
  withdrawIssued(): void {
    this.issued = this.sequence;
  }

  /** Continues after `sequence`, holding nothing (a follower whose bus lost events). */
  skipTo(sequence: number): void {
    this.sequence = sequence;
    this.issued = sequence;
    this.buffer.skipTo(sequence);
  }

  /** Resolves once `sequence` is issued, or `release(true)` is called, or after `timeoutMs`. */
  whenIssued(sequence: number, timeoutMs: number): Promise<void> {
    if (this.sequence >= sequence) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { sequence, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((other) => other !== waiter);
        resolve();
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves the waiters whose sequence is issued, or all of them (the stream finished). */
  release(all: boolean): void {
    const waiting = this.waiters;
    this.waiters = all ? [] : waiting.filter((waiter) => waiter.sequence > this.sequence);
    for (const waiter of waiting) if (!this.waiters.includes(waiter)) waiter.resolve();
  }
}
