import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { PublicStreamError, type StreamProducer } from 'nestjs-meridian-stream';
import type { CreateStreamRequest } from './create-stream-request.js';
import { answerFor, tokenize } from './prose.js';

const FILLER = 'lorem ipsum dolor sit amet consectetur adipiscing elit ';

/** Filler text has no sentences: the producer takes in interjections every this many events. */
const FILLER_INJECTION_EVERY = 10;

/** Where a prose token ends a sentence: an injection point. */
const SENTENCE_END = /[.!?]["')\]]*\s*$/;

/** About `size` bytes of text for event `index`, starting with the index so it can be checked. */
export function demoText(index: number, size: number): string {
  const head = `${index}:`;
  return (head + FILLER.repeat(Math.ceil(size / FILLER.length) + 1)).slice(0, Math.max(size, head.length));
}

/**
 * The sample producer: `events` events of type `text_delta`, data `{ index, text, t }` where `t`
 * is the send time (ms since the epoch, fractional), one every `intervalMs`. Soft-cancelled, it
 * stops and returns what a provider would bill (`{ events_sent }`, for the finish hooks).
 * Interjections (`POST /streams/:id/interjections`) are drained at each sentence end (every
 * ten events for filler text, and once more at the end) and woven into the answer as a
 * `text_delta` with `interjection: true` and the index of the token it follows.
 */
export function demoProducer(request: CreateStreamRequest): StreamProducer {
  return async (context) => {
    const { signal, send, interjections } = context;
    if (request.startDelayMs > 0) await sleep(request.startDelayMs, undefined, { signal });
    const tokens = request.prompt === undefined ? undefined : tokenize(answerFor(request.prompt));
    const total = Math.min(request.events, tokens?.length ?? Infinity);
    const count = request.failAfter === undefined ? total : Math.min(total, request.failAfter);
    const weaveIn = (index: number) => {
      const added = interjections.drain();
      // A model would fold the text into its answer; the demo shows it where it was taken in.
      if (added)
        send({ type: 'text_delta', data: { index, text: ` [You added: ${added}] `, interjection: true, t: now() } });
    };
    let index = 0;
    for (; index < count && !signal.aborted && !context.softCancelled; index++) {
      const text = tokens ? tokens[index] : demoText(index, request.size);
      send({ type: 'text_delta', data: { index, text, t: now() } });
      if (tokens ? SENTENCE_END.test(text) : (index + 1) % FILLER_INJECTION_EVERY === 0) weaveIn(index);
      // Prose arrives like a model typing: irregular gaps around intervalMs.
      const pause = tokens ? Math.round(request.intervalMs * (0.3 + 1.4 * Math.random())) : request.intervalMs;
      if (pause === 0) await nextTurn();
      else await sleep(pause, undefined, { signal });
    }
    if (!signal.aborted && !context.softCancelled) weaveIn(index - 1);
    if (request.failAfter !== undefined && !context.softCancelled) {
      throw new PublicStreamError(`The producer failed after ${request.failAfter} events, as requested (failAfter).`);
    }
    return { events_sent: index };
  };
}

/** The send time: ms since the epoch, fractional. */
function now(): number {
  return performance.timeOrigin + performance.now();
}
