import {
  InterjectionTooLargeError,
  InvalidStreamInputError,
  ProducerUnreachableError,
  StreamFinishedError,
  StreamNotFoundError,
} from './errors.js';
import {
  assertInterjectionText,
  type InterjectionAnswer,
  type InterjectionMode,
  type InterjectionReceipt,
} from './interjections.js';
import { STREAM_ID_PATTERN } from './registry-options.js';
import type { CancellingRegistry } from './stream-cancel.js';
import { isFinishedState } from './stream-event.js';

/** How long an interjection sent to another instance waits for the producer's answer. */
const INTERJECT_WAIT_MS = 5_000;

/** Options of `registry.interject()`. */
export interface InterjectOptions {
  /** `append` (default): after what is queued, joined by the combiner; `replace`: instead of it. */
  readonly mode?: InterjectionMode;
}

/**
 * Queues text for a stream's producer wherever it is produced: here at once, on another instance
 * through the bus's control channel (a request the producer answers with the bytes queued).
 */
export async function interjectStream(
  registry: CancellingRegistry,
  id: string,
  text: string,
  options: InterjectOptions = {},
): Promise<InterjectionReceipt> {
  const mode = options.mode ?? 'append';
  assertInterjectionText(text);
  if (mode !== 'append' && mode !== 'replace') {
    throw new InvalidStreamInputError('An interjection mode is "append" or "replace".');
  }
  if (!STREAM_ID_PATTERN.test(id)) throw new StreamNotFoundError(id);
  const held = registry.get(id);
  if (held && !held.follower) return held.interject(text, mode);
  const { bus } = registry;
  const info = await bus?.lookup(id);
  if (info && !isFinishedState(info.status)) {
    if (!bus!.request)
      throw new ProducerUnreachableError(
        id,
        'the configured StreamBus has no request(), so interjections cannot reach the producing instance; send them there, or use RedisStreamBus.',
      );
    const answer = (await bus!.request(id, { type: 'interject', data: { text, mode } }, INTERJECT_WAIT_MS)) as
      InterjectionAnswer | undefined;
    if (answer && 'queuedBytes' in answer) return { queuedBytes: answer.queuedBytes };
    if (answer) throw answeredError(id, answer.error);
  }
  // No producer answered: the stream has finished (409), or is nowhere (404).
  const stream = held ?? (await registry.locate(id));
  const status = (await bus?.lookup(id))?.status ?? stream?.state;
  if (status && isFinishedState(status)) throw new StreamFinishedError(id, 'interjections');
  if (!stream && !info) throw new StreamNotFoundError(id);
  throw new ProducerUnreachableError(
    id,
    `its producer did not answer the interjection within ${INTERJECT_WAIT_MS} ms (its instance may be busy or stopping); retry shortly.`,
  );
}

/** The typed error the producer's instance answered with. */
function answeredError(id: string, error: { code: string; message: string; bytes?: number; limit?: number }): Error {
  switch (error.code) {
    case 'INTERJECTION_TOO_LARGE':
      return new InterjectionTooLargeError(error.bytes ?? 0, error.limit ?? 0);
    case 'STREAM_FINISHED':
      return new StreamFinishedError(id, 'interjections');
    case 'INVALID_STREAM_INPUT':
      return new InvalidStreamInputError(error.message);
    default:
      return new Error(`Stream ${id}: the producer refused the interjection: ${error.message}`);
  }
}
