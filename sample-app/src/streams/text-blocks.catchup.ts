import type { CatchupFunction, EventStore } from 'nestjs-meridian-stream';

/** Deltas joined into one `text_block` event at most. */
const DELTAS_PER_BLOCK = 200;

/**
 * Catch-up for clients that reconnect from far behind: instead of every `text_delta`, blocks of
 * joined text. Each block carries the id of the last delta it covers, so a client that drops
 * again resumes right after it. Only the leading run of deltas is joined; what follows (such as
 * the final event) arrives as it was sent.
 */
export function textBlocksCatchup(store: EventStore): CatchupFunction {
  return async ({ streamId, afterSequence, throughSequence, maxBytes }) => {
    const limit = Math.min(throughSequence - afterSequence, 5_000);
    const stored = await store.readAfter(streamId, afterSequence, limit, maxBytes);
    const firstOther = stored.findIndex((event) => event.type !== 'text_delta');
    const deltas = firstOther === -1 ? stored : stored.slice(0, firstOther);
    const blocks = [];
    for (let start = 0; start < deltas.length; start += DELTAS_PER_BLOCK) {
      const run = deltas.slice(start, start + DELTAS_PER_BLOCK);
      const items = run.map((event) => JSON.parse(event.data) as { index: number; text: string });
      blocks.push({
        type: 'text_block',
        data: {
          fromIndex: items[0].index,
          toIndex: items.at(-1)!.index,
          text: items.map((item) => item.text).join(''),
        },
        sequence: run.at(-1)!.sequence,
      });
    }
    return blocks;
  };
}
