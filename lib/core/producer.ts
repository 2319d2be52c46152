import { isObservable, Subscription, type Observable } from 'rxjs';
import type { InterjectionBuffer } from './interjections.js';
import type { EventInput, StreamEvent } from './stream-event.js';

/** What a work-function producer is given. */
export interface ProducerContext {
  /** The stream's id. */
  readonly streamId: string;
  /** Aborted when the stream is cancelled, times out or the application shuts down. */
  readonly signal: AbortSignal;
  /**
   * Appends an event and returns it (with its id), or returns undefined when the stream has
   * already finished. Throws `InvalidStreamInputError` / `EventTooLargeError` for bad input.
   */
  send(input: EventInput): StreamEvent | undefined;
  /**
   * Resolves once the stream takes events without growing memory further: at once, unless the
   * store is failing or lagging and more than `maxUnstoredBytes` are unstored (or the instance's
   * `maxUnstoredBytesTotal`); then once it caught up, or the stream finished. `await` it between
   * sends in a loop that can wait: `send()` itself never waits, and a stream that goes on past
   * twice the limit fails with `StoreUnavailableError`. AsyncIterable producers are paced by it.
   */
  writable(): Promise<void>;
  /**
   * True once the stream was soft-cancelled (`softCancel()`): clients have their final
   * `cancelled` event, `send()` returns undefined, and the signal stays unaborted so the
   * producer can finish (e.g. read a provider's final token counts) and return its result.
   */
  readonly softCancelled: boolean;
  /** Calls `listener` with the reason when the stream is soft-cancelled; returns an unsubscribe. */
  onSoftCancel(listener: (reason: string) => void): () => void;
  /**
   * Text users interjected while the stream runs (`registry.interject()`, from any instance), in
   * the order it came. Fold it in at an injection point with `drain()`, which takes it all and
   * leaves the buffer empty; `peek()`, `length` (bytes) and `clear()` too.
   */
  readonly interjections: InterjectionBuffer;
}

/**
 * The meridian-stream-go style producer: runs until its promise settles. What it resolves with is
 * handed to the finish hooks (`result`) and otherwise ignored, so `async ({ send }) => send(x)` is fine.
 */
export type WorkFunction = (context: ProducerContext) => unknown;

/**
 * Anything that produces a stream's events. Items of an Observable or AsyncIterable become the
 * `data` of one event each (see the `toEvent` option to choose type or data yourself).
 */
export type StreamProducer<T = unknown> = WorkFunction | Observable<T> | AsyncIterable<T>;

/**
 * Runs a producer of any supported form until it ends: resolves on completion (or once aborted)
 * with what a work function returned, rejects with the producer's error.
 */
export async function runProducer<T>(
  producer: StreamProducer<T>,
  context: ProducerContext,
  toEvent: (item: T) => EventInput,
): Promise<unknown> {
  if (typeof producer === 'function') {
    return await producer(context);
  }
  if (isObservable(producer)) {
    return runObservable(producer, context, toEvent);
  }
  if (producer && typeof (producer as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') {
    return runAsyncIterable(producer, context, toEvent);
  }
  throw new TypeError('A stream producer must be a function, an Observable or an AsyncIterable.');
}

/** An Observable pushes and cannot be held back: past twice the unstored limits its stream fails instead. */
function runObservable<T>(
  source: Observable<T>,
  context: ProducerContext,
  toEvent: (item: T) => EventInput,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Created first: a synchronous source can fail from inside subscribe().
    const subscription = new Subscription();
    const stop = () => {
      subscription.unsubscribe();
      resolve();
    };
    if (context.signal.aborted) return stop();
    context.signal.addEventListener('abort', stop, { once: true });
    subscription.add(() => context.signal.removeEventListener('abort', stop));
    subscription.add(
      source.subscribe({
        next: (item) => {
          try {
            context.send(toEvent(item));
          } catch (error) {
            subscription.unsubscribe();
            reject(error);
          }
        },
        error: reject,
        complete: resolve,
      }),
    );
  });
}

async function runAsyncIterable<T>(
  source: AsyncIterable<T>,
  context: ProducerContext,
  toEvent: (item: T) => EventInput,
): Promise<void> {
  const iterator = source[Symbol.asyncIterator]();
  // return() lets an SDK stream close its HTTP request; a pending next() may never settle.
  const stop = () => void Promise.resolve(iterator.return?.()).catch(() => undefined);
  context.signal.addEventListener('abort', stop, { once: true });
  try {
    while (!context.signal.aborted) {
      // Not pulled while the store lags: the source waits instead of memory filling.
      await context.writable();
      if (context.signal.aborted) return;
      const result = await iterator.next();
      if (result.done || context.signal.aborted) return;
      context.send(toEvent(result.value));
    }
  } catch (error) {
    if (!context.signal.aborted) {
      stop();
      throw error;
    }
  } finally {
    context.signal.removeEventListener('abort', stop);
  }
}
