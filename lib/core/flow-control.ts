import { AsyncLocalStorage } from 'node:async_hooks';

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
  /**
   * Set by transports that take SSE frames directly (the NestJS `DirectSseInterceptor`): the
   * engine then writes each event's shared, pre-framed bytes to the connection itself, and the
   * Observable returned by `observe()` emits nothing and completes when the client ends.
   */
  readonly frames?: FrameWriter;
}

/** A connection that takes whole SSE frames. */
export interface FrameWriter {
  /**
   * Calls `listener` once frames may be written (the response head is out), never synchronously;
   * returns a function that cancels.
   */
  whenOpen(listener: () => void): () => void;
  /** Writes one whole frame; `isBackedUp()` then tells whether to wait for `onceWritable()`. */
  write(frame: Buffer): void;
  /** Optional: hands over at once what `write()` holds back (it is called before the end). */
  flush?(): void;
  /**
   * Present when the writer owns its connection: the client then ends it with `end()` once it
   * has nothing more to send, and is detached through `onClose()`; the Observable returned by
   * `observe()` completes as soon as the client is attached, so that nothing of the subscriber
   * chain (a framework's request context) is held for the life of the connection.
   */
  end?(): void;
  /** With `end()`: calls `listener` once when the connection closes. */
  onClose?(listener: () => void): void;
}

const ambient = new AsyncLocalStorage<FlowControl>();

/**
 * Runs `fn` with `flow` as the flow control of every `observe()` Observable subscribed inside it,
 * including in promise continuations it starts. This is how the NestJS interceptor passes the
 * HTTP response's backpressure to a stream the route handler returned.
 */
export function runWithFlowControl<T>(flow: FlowControl, fn: () => T): T {
  return ambient.run(flow, fn);
}

/** The flow control set by {@link runWithFlowControl} for the current async context, if any. */
export function currentFlowControl(): FlowControl | undefined {
  return ambient.getStore();
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
