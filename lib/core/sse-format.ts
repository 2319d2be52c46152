import { InvalidStreamInputError } from './errors.js';

/** Characters that would end or split an SSE field line, so they may not appear in one. */
const FIELD_BREAKERS = /[\r\n\0]/;

/** A UTF-16 surrogate without its pair: UTF-8 has no encoding for it (it would become U+FFFD). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Rejects a value for a single-line SSE field (`event:`, `id:`). Nest strips CR and LF from them,
 * which silently mangles the field (`x\r\ndata: evil` becomes `xdata: evil`); we refuse instead.
 */
export function assertSseField(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw new InvalidStreamInputError(`Event ${name} must be a string, got ${typeof value}.`);
  }
  if (value.length === 0) {
    throw new InvalidStreamInputError(`Event ${name} must not be empty.`);
  }
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidStreamInputError(
      `Event ${name} contains a lone UTF-16 surrogate, which cannot be sent as UTF-8 (clients would see U+FFFD instead). Send well-formed text.`,
    );
  }
  if (FIELD_BREAKERS.test(value)) {
    throw new InvalidStreamInputError(
      `Event ${name} ${JSON.stringify(value.slice(0, 80))} contains CR, LF or NUL, which would break SSE framing. Remove them (put multi-line text in data instead).`,
    );
  }
}

/**
 * Serialises event data once, for every client: strings go as they are (multi-line text becomes
 * several `data:` lines when framed), anything else as JSON. Throws a clear error for values
 * JSON cannot represent (BigInt, cycles, `undefined`).
 */
export function serializeData(data: unknown): string {
  if (typeof data === 'string') {
    return data;
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (error) {
    throw new InvalidStreamInputError(
      `Event data is not JSON-serialisable (${error instanceof Error ? error.message : String(error)}). Send a string or a plain object.`,
    );
  }
  if (text === undefined) {
    throw new InvalidStreamInputError(
      `Event data of type ${typeof data} has no JSON form. Send a string or a plain object.`,
    );
  }
  return text;
}
