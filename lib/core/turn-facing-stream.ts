import { StreamFinishedError } from './errors.js';
import {
  assertInterjectionText,
  InterjectionBuffer,
  type InterjectionMode,
  type InterjectionReceipt,
} from './interjections.js';
import { PersistingStream } from './persisting-stream.js';
import type { StreamState } from './stream-event.js';
import type { StreamTurn } from './stream-turn.js';

/**
 * What the people behind an LLM turn reach on a stream: a soft cancel that lets the producer run
 * on, and text interjected for the producer. `ResumableStream` is the one that holds the events.
 */
export abstract class TurnFacingStream extends PersistingStream {
  /** The stream's id, as used in URLs. */
  abstract readonly id: string;
  protected abstract readonly turn: StreamTurn;
  /** Whether `send()` still takes events. */
  protected abstract get takesEvents(): boolean;
  /** Throws `StreamProducedElsewhereError` (409) for a running stream produced on another instance. */
  protected abstract assertProducedHere(what: string): void;
  /** Appends the final event and ends the stream; false if it had already finished. */
  protected abstract finish(state: StreamState, type: string, data: object): boolean;
  private interjectionBuffer: InterjectionBuffer | undefined;

  /**
   * Ends the stream for clients now (the final `cancelled` event, with `soft: true`) without
   * aborting the producer: it sees `ctx.softCancelled`, what it sends is dropped, and what it
   * returns reaches the finish hooks. Returns false if the stream had already finished.
   */
  softCancel(reason = 'cancelled'): boolean {
    this.assertProducedHere('softCancel()');
    if (!this.takesEvents) return false;
    const data = { status: 'cancelled', reason, soft: true };
    return this.turn.softCancel(reason, () => this.finish('cancelled', this.options.eventTypes.cancelled, data));
  }

  /**
   * Text users interjected while the stream runs, held for its producer (`ctx.interjections`).
   * Only a stream produced here has any.
   */
  get interjections(): InterjectionBuffer {
    return (this.interjectionBuffer ??= new InterjectionBuffer(
      this.options.interjectionMaxBytes,
      this.options.combineInterjections,
    ));
  }

  /**
   * Queues text for the producer (appended with the combiner, or replacing what is queued); the
   * producer takes it with `ctx.interjections.drain()`. Use `registry.interject()` to reach a
   * stream produced on any instance.
   * @throws InvalidStreamInputError (400) for empty or whitespace-only text.
   * @throws InterjectionTooLargeError (413) past `interjectionMaxBytes`.
   * @throws StreamFinishedError (409) once the stream has finished (or was soft-cancelled).
   */
  interject(text: string, mode: InterjectionMode = 'append'): InterjectionReceipt {
    assertInterjectionText(text);
    if (!this.takesEvents) throw new StreamFinishedError(this.id, 'interjections');
    this.assertProducedHere('interject()');
    return { queuedBytes: this.interjections.add(text, mode) };
  }
}
