import { InterjectionTooLargeError, InvalidStreamInputError } from './errors.js';

/** The default most bytes (UTF-8) an interjection buffer holds: 64 KiB, as meridian-stream-go. */
export const DEFAULT_INTERJECTION_MAX_BYTES = 64 * 1024;

/**
 * Joins text already queued with text appended to it (meridian-stream-go's `Combiner`). The
 * default puts a newline between them.
 */
export type InterjectionCombiner = (queued: string, added: string) => string;

/** The default combiner: `queued + '\n' + added`. */
export const newlineCombiner: InterjectionCombiner = (queued, added) => `${queued}\n${added}`;

/** How an interjection joins what is queued: appended (with the combiner) or replacing it. */
export type InterjectionMode = 'append' | 'replace';

/** What the producer's instance answers to an interjection: the bytes now queued. */
export interface InterjectionReceipt {
  /** Bytes (UTF-8) in the buffer after the interjection was taken in. */
  readonly queuedBytes: number;
}

/** What the producer's instance answers to an interjection sent through the bus. */
export type InterjectionAnswer =
  InterjectionReceipt | { readonly error: { code: string; message: string; bytes?: number; limit?: number } };

/** Throws `InvalidStreamInputError` (400) unless `text` is a string with something besides whitespace. */
export function assertInterjectionText(text: unknown): asserts text is string {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new InvalidStreamInputError('An interjection needs text that is not empty or only whitespace.');
  }
}

/**
 * Text a user adds while a stream runs, held for its producer until it drains it at its next
 * injection point (meridian-stream-go's `InterjectionBuffer`). Synchronous, so every operation is
 * atomic on the producer's instance: `drain()` takes exactly what was queued and leaves it empty.
 */
export class InterjectionBuffer {
  private text = '';
  private bytes = 0;

  constructor(
    /** Most bytes (UTF-8) the buffer holds; an interjection that would pass it is refused (413). */
    readonly maxBytes: number = DEFAULT_INTERJECTION_MAX_BYTES,
    private readonly combine: InterjectionCombiner = newlineCombiner,
  ) {}

  /** Bytes (UTF-8) queued. */
  get length(): number {
    return this.bytes;
  }

  /**
   * Adds `text` after what is queued, joined by the combiner. Throws `InvalidStreamInputError`
   * (400) for empty or whitespace-only text, `InterjectionTooLargeError` (413) when the buffer
   * would pass its cap (nothing changes then). Returns the bytes queued.
   */
  append(text: string): number {
    assertInterjectionText(text);
    return this.set(this.text === '' ? text : this.combine(this.text, text));
  }

  /** Replaces what is queued with `text`; throws as `append()` does. Returns the bytes queued. */
  replace(text: string): number {
    assertInterjectionText(text);
    return this.set(text);
  }

  /** `append()` or `replace()`. */
  add(text: string, mode: InterjectionMode = 'append'): number {
    if (mode !== 'append' && mode !== 'replace') {
      throw new InvalidStreamInputError('An interjection mode is "append" or "replace".');
    }
    return mode === 'replace' ? this.replace(text) : this.append(text);
  }

  /** What is queued, left in place ('' when nothing). */
  peek(): string {
    return this.text;
  }

  /** What is queued, taken out at once: the buffer is empty after ('' when nothing was queued). */
  drain(): string {
    const text = this.text;
    this.clear();
    return text;
  }

  /** Empties the buffer. */
  clear(): void {
    this.text = '';
    this.bytes = 0;
  }

  private set(text: string): number {
    const bytes = Buffer.byteLength(text);
    if (bytes > this.maxBytes) throw new InterjectionTooLargeError(bytes, this.maxBytes);
    this.text = text;
    this.bytes = bytes;
    return bytes;
  }
}
