/**
 * How a transport tells the engine that its consumer is backed up. With it, `observe()` hands a
 * client only what its connection can take: a large catch-up is paced by the socket instead of
 * being queued in memory, and a client that stops reading is cut instead of buffered for.
 */
export interface FlowControl {
  /** True while the consumer has more queued than it wants. */
  isBackedUp(): boolean;
  /** Calls `listener` once, when the consumer can take more; returns a function that cancels. */
  onceWritable(listener: () => void): () => void;
  /** The client was cut for being too slow: drop the connection now (queued data would keep it open). */
  abort(): void;
}

/**
 * Pauses a client until `flow` can take more: `resume` is called once it can. A flow control may
 * answer at once, from inside the call; then `writableNow` is true and the caller just keeps
 * writing (resuming from there would re-enter its write loop). `onWritable` runs first in both
 * cases.
 */
export function waitUntilWritable(
  flow: FlowControl,
  onWritable: () => void,
  resume: () => void,
): { readonly writableNow: boolean; readonly cancel: () => void } {
  let asking = true;
  let writableNow = false;
  const cancel = flow.onceWritable(() => {
    onWritable();
    if (asking) writableNow = true;
    else resume();
  });
  asking = false;
  return { writableNow, cancel };
}
