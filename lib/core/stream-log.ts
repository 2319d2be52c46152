import { InvalidStreamInputError } from './errors.js';
import { formatEventId } from './event-id.js';
import { ReplayBuffer, type ReplayBufferLimits } from './replay-buffer.js';
import { assertSseField } from './sse-format.js';
import type { StreamEvent } from './stream-event.js';

/**
 * A stream's history in this process: the sequence issued so far, the bytes ever sent, the events
 * still held (the replay buffer), and who waits for a sequence to be issued.
 */
export class StreamLog {
  /** Sequence of the last event issued (0 before the first). */
  sequence: number;
  /** Bytes of data ever sent on the stream. */
  sentBytes = 0;
  readonly buffer: ReplayBuffer;
  private waiters: { readonly sequence: number; readonly resolve: () => void }[] = [];

  constructor(
    private readonly epoch: string,
    startAfter: number,
    limits: ReplayBufferLimits,
    canEvict: (sequence: number) => boolean,
  ) {
    this.sequence = startAfter;
    this.buffer = new ReplayBuffer(limits, canEvict, startAfter);
  }

  /**
   * Issues the next event. Throws for a type with CR/LF/NUL or a bad `retry`. `overLimits` is true
   * when the buffer stays over its limits because held events may not leave memory yet.
   */
  append(type: string, data: string, retry: number | undefined): { event: StreamEvent; overLimits: boolean } {
    assertSseField('type', type);
    if (retry !== undefined && (!Number.isSafeInteger(retry) || retry < 0)) {
      throw new InvalidStreamInputError(`Event retry must be a whole number of ms >= 0, got ${String(retry)}.`);
    }
    const bytes = Buffer.byteLength(data);
    const sequence = this.sequence + 1;
    const event: StreamEvent = Object.freeze({
      id: formatEventId(this.epoch, sequence),
      type,
      data,
      ...(retry === undefined ? {} : { retry }),
      sequence,
      epoch: this.epoch,
      bytes,
    });
    const overLimits = this.buffer.append(event);
    this.sequence = sequence;
    this.sentBytes += bytes;
    if (this.waiters.length > 0) this.release(false);
    return { event, overLimits };
  }

  /** Continues after `sequence`, holding nothing (a follower whose bus lost events). */
  skipTo(sequence: number): void {
    this.sequence = sequence;
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
