import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { PublicStreamError, type WorkFunction } from 'nestjs-meridian-stream';
import type { CreateStreamRequest } from './create-stream-request.js';

const FILLER = 'lorem ipsum dolor sit amet consectetur adipiscing elit ';

/** About `size` bytes of text for event `index`, starting with the index so it can be checked. */
export function demoText(index: number, size: number): string {
  const head = `${index}:`;
  return (head + FILLER.repeat(Math.ceil(size / FILLER.length) + 1)).slice(0, Math.max(size, head.length));
}

/**
 * The sample producer: `events` events of type `text_delta`, data `{ index, text, t }` where `t`
 * is the send time (ms since the epoch, fractional), one every `intervalMs`.
 */
export function demoProducer(request: CreateStreamRequest): WorkFunction {
  return async ({ signal, send }) => {
    if (request.startDelayMs > 0) await sleep(request.startDelayMs, undefined, { signal });
    const count = request.failAfter === undefined ? request.events : Math.min(request.events, request.failAfter);
    for (let index = 0; index < count && !signal.aborted; index++) {
      send({
        type: 'text_delta',
        data: { index, text: demoText(index, request.size), t: performance.timeOrigin + performance.now() },
      });
      if (request.intervalMs === 0) await nextTurn();
      else await sleep(request.intervalMs, undefined, { signal });
    }
    if (request.failAfter !== undefined) {
      throw new PublicStreamError(`The producer failed after ${request.failAfter} events, as requested (failAfter).`);
    }
  };
}
