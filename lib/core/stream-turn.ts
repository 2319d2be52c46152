import type { StreamLogger } from './logger.js';
import { runProducer, type ProducerContext, type StreamProducer } from './producer.js';
import type { EventInput, StreamState } from './stream-event.js';
import type { ResumableStream } from './stream.js';

/** What a finish hook is told once a stream produced here has ended and its producer returned. */
export interface StreamFinishedInfo {
  /** The stream (its id, options, and whatever else it carries). */
  readonly stream: ResumableStream;
  /** The state it ended in: `completed`, `failed` or `cancelled`. */
  readonly state: StreamState;
  /**
   * Why it failed (what the producer threw, `StreamProducerLostError`, `BusBehindError`, ...), or
   * what the producer threw after the stream had ended otherwise (e.g. after a soft cancel; its
   * reaction to an abort does not count). Undefined when nothing went wrong.
   */
  readonly error: unknown;
  /** What a work-function producer returned (undefined for an Observable or AsyncIterable). */
  readonly result: unknown;
  /** The stream's metadata (`create(..., { metadata })`), `{}` when none was given. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/**
 * Called once per stream produced here, after its final event was taken in and its producer
 * returned (also after a cancel, a soft cancel, or a lost producer). A hook that throws or
 * rejects is logged; it changes nothing.
 */
export type StreamFinishedHook = (info: StreamFinishedInfo) => void | Promise<void>;

/**
 * One stream's turn: its producer from start to return, the soft cancel it may see, and the
 * moment both the stream and its producer are done (the finish hooks, `whenFinished()`). The
 * stream ends for clients earlier (`whenEnded()`): a cancelled producer may take its time.
 */
export class StreamTurn {
  private producerRunning = false;
  private endState: StreamState | undefined;
  private cause: unknown;
  private thrown: unknown;
  private result: unknown;
  private soft = false;
  private softReason = 'cancelled';
  private readonly softListeners = new Set<(reason: string) => void>();
  private resolveEnded!: (state: StreamState) => void;
  private resolveFinished!: (state: StreamState) => void;
  /** The final event was taken in. */
  readonly ended = new Promise<StreamState>((resolve) => (this.resolveEnded = resolve));
  /** The final event was taken in and the producer returned; the hooks have been called. */
  readonly finished = new Promise<StreamState>((resolve) => (this.resolveFinished = resolve));

  constructor(
    private readonly stream: ResumableStream,
    private readonly logger: StreamLogger,
    /** Called in order; none for streams not produced here (followed or restored). */
    private readonly hooks: readonly StreamFinishedHook[],
  ) {}

  /** Whether the stream was soft-cancelled: its producer runs on, unheard. */
  get softCancelled(): boolean {
    return this.soft;
  }

  /** Runs the producer with its context; settles as the producer does. */
  run(
    producer: StreamProducer,
    base: Omit<ProducerContext, 'softCancelled' | 'onSoftCancel'>,
    toEvent: (item: unknown) => EventInput,
  ): Promise<void> {
    const turn = this;
    const context: ProducerContext = {
      ...base,
      get softCancelled() {
        return turn.soft;
      },
      onSoftCancel: (listener) => this.onSoftCancel(listener),
    };
    this.producerRunning = true;
    return runProducer(producer, context, toEvent).then(
      (result) => {
        this.result = result;
        this.producerReturned();
      },
      (error: unknown) => {
        // A producer's reaction to its abort (an AbortError from a cancelled wait) is no error of its own.
        const { signal } = base;
        if (!(signal.aborted && (error === signal.reason || (error as Error | undefined)?.name === 'AbortError'))) {
          this.thrown = error;
        }
        this.producerReturned();
        throw error;
      },
    );
  }

  /** Marks the soft cancel, lets `end` issue the final event, then tells the producer's listeners. */
  softCancel(reason: string, end: () => boolean): boolean {
    this.soft = true;
    this.softReason = reason;
    if (!end()) return (this.soft = false);
    for (const listener of [...this.softListeners]) {
      try {
        listener(reason);
      } catch (error) {
        this.logger.error(`Stream ${this.stream.id}: an onSoftCancel listener threw`, (error as Error).stack);
      }
    }
    this.softListeners.clear();
    return true;
  }

  /** Why the stream fails (kept for the hooks); the first cause wins. */
  failedWith(error: unknown): void {
    this.cause ??= error;
  }

  /** The final event was taken in. */
  streamEnded(state: StreamState): void {
    if (this.endState) return;
    this.endState = state;
    this.resolveEnded(state);
    if (!this.producerRunning) this.done();
  }

  private producerReturned(): void {
    this.producerRunning = false;
    if (this.endState) this.done();
  }

  private onSoftCancel(listener: (reason: string) => void): () => void {
    if (this.soft) {
      const reason = this.softReason;
      queueMicrotask(() => listener(reason));
      return () => undefined;
    }
    this.softListeners.add(listener);
    return () => this.softListeners.delete(listener);
  }

  private done(): void {
    const state = this.endState!;
    const info: StreamFinishedInfo = {
      stream: this.stream,
      state,
      error: this.cause ?? this.thrown,
      result: this.result,
      metadata: this.stream.metadata,
    };
    for (const hook of this.hooks) {
      const failed = (error: unknown) =>
        this.logger.error(
          `Stream ${this.stream.id}: a finish hook failed: ${error instanceof Error ? error.message : String(error)}`,
          error instanceof Error ? error.stack : undefined,
        );
      try {
        void Promise.resolve(hook(info)).catch(failed);
      } catch (error) {
        failed(error);
      }
    }
    this.resolveFinished(state);
  }
}
