import { Observable } from 'rxjs';
import {
  EventTooLargeError,
  InvalidEventIdError,
  InvalidStreamInputError,
  PublicStreamError,
  StreamLimitError,
} from './errors.js';
import { formatEventId, newEpoch, parseEventId } from './event-id.js';
import { currentFlowControl, type FlowControl } from './flow-control.js';
import type { StreamLogger } from './logger.js';
import type { ResolvedStreamOptions } from './options.js';
import { runProducer, type StreamProducer } from './producer.js';
import { ReplayBuffer } from './replay-buffer.js';
import { assertSseField, serializeData } from './sse-format.js';
import { StreamClient, type ClientEndReason, type ClientSink, type ClientSource } from './stream-client.js';
import {
  isFinishedState,
  type EventInput,
  type HeartbeatMessage,
  type PositionMessage,
  type ResetMessage,
  type SseMessage,
  type StreamEvent,
  type StreamState,
} from './stream-event.js';

/** Why a client was sent a `reset` event instead of a seamless continuation. */
export type ResetReason =
  /** Its Last-Event-ID belongs to another history of this stream (another epoch). */
  | 'unknown_epoch'
  /** The events after its Last-Event-ID are no longer held. */
  | 'history_truncated';

/** Options of one `observe()` call. */
export interface ObserveOptions {
  /** Merge heartbeat comments into the observable (default true, when the stream's heartbeatMs > 0). */
  readonly heartbeat?: boolean;
  /**
   * Backpressure of the consumer. Default: the one set by `runWithFlowControl()` (the NestJS
   * `StreamFlowInterceptor` sets it), else none: everything is emitted as soon as it exists.
   */
  readonly flowControl?: FlowControl;
}

/** Bytes of events handed to a flow-controlled consumer before it is asked whether it can take more. */
const BURST_BYTES = 64 * 1024;
/** What an event costs against that budget beyond its data (field names, id, type). */
const EVENT_OVERHEAD_BYTES = 64;

/** Called by the stream; the registry uses them for bookkeeping. */
export interface StreamHooks {
  readonly logger: StreamLogger;
  onFinish(stream: ResumableStream): void;
  onClientEnd(stream: ResumableStream, reason: ClientEndReason): void;
}

const HEARTBEAT: HeartbeatMessage = Object.freeze({ comment: 'heartbeat' });

/**
 * One producer, any number of clients, every event kept in a bounded replay buffer under an id
 * `<epoch>-<sequence>`. Created by `StreamRegistry.create()`.
 */
export class ResumableStream {
  /** Random per stream history; a client whose id has another epoch is told so. */
  readonly epoch = newEpoch();
  readonly createdAt = Date.now();
  private currentState: StreamState = 'pending';
  private endedAt: number | undefined;
  private sequence = 0;
  private sentBytes = 0;
  private readonly buffer: ReplayBuffer;
  private readonly clients = new Set<StreamClient>();
  private readonly heartbeatListeners = new Set<() => void>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private readonly abortController = new AbortController();
  private readonly finishedPromise: Promise<StreamState>;
  private resolveFinished!: (state: StreamState) => void;
  private readonly source: ClientSource;

  constructor(
    /** The stream's id, as used in URLs. */
    readonly id: string,
    /** The options in force for this stream, defaults filled in. */
    readonly options: ResolvedStreamOptions,
    private readonly hooks: StreamHooks,
  ) {
    this.buffer = new ReplayBuffer({ maxEvents: options.bufferMaxEvents, maxBytes: options.bufferMaxBytes });
    this.finishedPromise = new Promise((resolve) => (this.resolveFinished = resolve));
    const stream = this;
    this.source = {
      get lastSequence() {
        return stream.sequence;
      },
      get isFinished() {
        return stream.isFinished;
      },
      get sentBytes() {
        return stream.sentBytes;
      },
      eventAt: (sequence) => this.buffer.get(sequence),
      endOffset: (sequence) => this.buffer.endOffset(sequence),
      detach: (client, reason) => {
        this.clients.delete(client);
        this.hooks.onClientEnd(this, reason);
      },
    };
  }

  get state(): StreamState {
    return this.currentState;
  }

  get isFinished(): boolean {
    return isFinishedState(this.currentState);
  }

  /** When the stream finished (ms since the epoch), if it has. */
  get finishedAt(): number | undefined {
    return this.endedAt;
  }

  /** Sequence of the last event issued (0 before the first). */
  get lastSequence(): number {
    return this.sequence;
  }

  /** Id of the last event issued, or the "before the first event" position. */
  get lastEventId(): string {
    return formatEventId(this.epoch, this.sequence);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Events and bytes currently held in the replay buffer. */
  get buffered(): { events: number; bytes: number; firstSequence: number } {
    return { events: this.buffer.size, bytes: this.buffer.bytes, firstSequence: this.buffer.firstSequence };
  }

  /** Aborted when the stream finishes in any way; what producers watch. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  /** Resolves with the final state once the stream has finished. */
  whenFinished(): Promise<StreamState> {
    return this.finishedPromise;
  }

  /** The buffered event with this sequence, if it is still held. */
  eventAt(sequence: number): StreamEvent | undefined {
    return this.buffer.get(sequence);
  }

  /**
   * Starts the stream (pending -> running) and its producer, if any. Without a producer the
   * stream stays open for `send()` until `complete()`, `fail()` or `cancel()`.
   * @internal called by the registry.
   */
  start(producer?: StreamProducer): void {
    if (this.currentState !== 'pending') return;
    this.currentState = 'running';
    if (this.options.timeoutMs > 0) {
      this.timeoutTimer = setTimeout(() => this.cancel('timeout'), this.options.timeoutMs).unref();
    }
    if (!producer) return;
    const context = { streamId: this.id, signal: this.signal, send: (input: EventInput) => this.send(input) };
    runProducer(producer, context, this.options.toEvent).then(
      () => this.complete(),
      (error: unknown) => this.fail(error),
    );
  }

  /**
   * Appends an event and delivers it to every client. Returns the event (with its id), or
   * undefined when the stream has finished. Throws for a type with CR/LF/NUL, data that cannot be
   * serialised, or data over `maxEventBytes`.
   */
  send(input: EventInput): StreamEvent | undefined {
    if (this.isFinished) return undefined;
    if (input === null || typeof input !== 'object' || !('data' in input)) {
      throw new InvalidStreamInputError('send() takes { type?, data, retry? }; data is missing.');
    }
    const data = serializeData(input.data);
    const bytes = Buffer.byteLength(data);
    if (bytes > this.options.maxEventBytes) throw new EventTooLargeError(bytes, this.options.maxEventBytes);
    const event = this.append(input.type ?? this.options.eventTypes.message, data, input.retry);
    this.deliver();
    return event;
  }

  /** Ends the stream with the final `done` event. Returns false if it had already finished. */
  complete(): boolean {
    return this.finish('completed', this.options.eventTypes.done, { status: 'completed' });
  }

  /**
   * Ends the stream with the final `error` event. Clients see the message of a
   * {@link PublicStreamError} and a generic one for anything else; the details are logged.
   */
  fail(error: unknown): boolean {
    if (this.isFinished) {
      this.hooks.logger.debug?.(`Stream ${this.id}: producer error after the stream finished: ${String(error)}`);
      return false;
    }
    const message = error instanceof PublicStreamError ? error.message : 'The stream failed.';
    const stack = error instanceof Error ? error.stack : undefined;
    this.hooks.logger.error(
      `Stream ${this.id} failed: ${error instanceof Error ? error.message : String(error)}`,
      stack,
    );
    return this.finish('failed', this.options.eventTypes.error, { status: 'failed', message });
  }

  /** Aborts the producer and ends the stream with the final `cancelled` event. */
  cancel(reason = 'cancelled'): boolean {
    return this.finish('cancelled', this.options.eventTypes.cancelled, { status: 'cancelled', reason });
  }

  /** True when the stream has finished and `lastEventId` is its final event: nothing left to send. */
  isFullySeenBy(lastEventId: string | null | undefined): boolean {
    if (!this.isFinished || !lastEventId) return false;
    const position = parseEventId(lastEventId);
    return position.epoch === this.epoch && position.sequence === this.sequence;
  }

  /**
   * Where a client that sent `lastEventId` continues. Throws {@link InvalidEventIdError} for an id
   * that is malformed or ahead of the stream.
   */
  resolveResume(lastEventId?: string | null): { cursor: number; reset?: ResetReason } {
    let cursor = 0;
    let reset: ResetReason | undefined;
    if (lastEventId) {
      const position = parseEventId(lastEventId);
      if (position.epoch !== this.epoch) {
        reset = 'unknown_epoch';
      } else if (position.sequence > this.sequence) {
        throw new InvalidEventIdError(lastEventId, `this stream has issued events only up to ${this.lastEventId}.`);
      } else {
        cursor = position.sequence;
      }
    }
    const firstHeld = this.buffer.firstSequence;
    if (cursor < firstHeld - 1) {
      cursor = firstHeld - 1;
      reset ??= 'history_truncated';
    }
    return { cursor, reset };
  }

  /**
   * Every event after `lastEventId` (from the first when none), then live ones, with no gap and
   * no duplicate; completes after the final event. Return it from a NestJS `@Sse()` handler.
   * The first message is an id-only position marker (with the `retry:` hint), or a `reset` event
   * when the position cannot be continued seamlessly. Throws synchronously (before any header is
   * written) for an invalid id or when the stream is full.
   */
  observe(lastEventId?: string | null, options: ObserveOptions = {}): Observable<SseMessage> {
    this.resolveResume(lastEventId);
    this.assertClientCapacity();
    return new Observable<SseMessage>((subscriber) => {
      const flow = options.flowControl ?? currentFlowControl();
      let budget = BURST_BYTES;
      let cancelWait: (() => void) | undefined;
      let writing = false;
      let writableDuringWrite = false;
      const sink: ClientSink = {
        write: (event) => {
          subscriber.next(event);
          if (!flow) return true;
          budget -= event.bytes + EVENT_OVERHEAD_BYTES;
          if (budget > 0 && !flow.isBackedUp()) return true;
          writing = true;
          writableDuringWrite = false;
          cancelWait = flow.onceWritable(() => {
            cancelWait = undefined;
            budget = BURST_BYTES;
            // A flow control may answer at once, from inside this write: just keep going.
            if (writing) writableDuringWrite = true;
            else client.resume();
          });
          writing = false;
          return writableDuringWrite;
        },
        // Even a cut client completes: an error would reach Nest, which numbers it with its own id.
        end: (reason) => {
          cancelWait?.();
          if (reason === 'slow') flow?.abort();
          subscriber.complete();
        },
      };
      const client = this.attach(sink, lastEventId, (message) => subscriber.next(message));
      if (client.isClosed || options.heartbeat === false || this.options.heartbeatMs === 0) {
        return () => client.close('unsubscribed');
      }
      const beat = () => subscriber.next(HEARTBEAT);
      this.addHeartbeat(beat);
      return () => {
        this.removeHeartbeat(beat);
        client.close('unsubscribed');
      };
    });
  }

  /**
   * Low-level: attaches a client that writes to `sink`, for transports with their own
   * backpressure. `sink.write()` returning false pauses the client until `client.resume()`;
   * a paused client that falls `maxClientBacklogBytes` behind, or behind the buffer, is cut with
   * reason `slow`. `preamble` receives the position marker or reset event first.
   */
  attach(sink: ClientSink, lastEventId?: string | null, preamble?: (message: SseMessage) => void): StreamClient {
    this.assertClientCapacity();
    const { cursor, reset } = this.resolveResume(lastEventId);
    const client = new StreamClient(this.source, cursor, sink, this.options.maxClientBacklogBytes);
    preamble?.(reset ? this.resetMessage(reset, cursor, lastEventId) : this.positionMessage(cursor));
    this.clients.add(client);
    client.pump();
    return client;
  }

  /** Ends every client (reason `shutdown`) without finishing the stream. */
  disconnectAll(reason: ClientEndReason): void {
    for (const client of [...this.clients]) client.close(reason);
  }

  private append(type: string, data: string, retry: number | undefined): StreamEvent {
    assertSseField('type', type);
    if (retry !== undefined && (!Number.isSafeInteger(retry) || retry < 0)) {
      throw new InvalidStreamInputError(`Event retry must be a whole number of ms >= 0, got ${String(retry)}.`);
    }
    const bytes = Buffer.byteLength(data);
    const sequence = this.sequence + 1;
    const event: StreamEvent = Object.freeze({
      id: formatEventId(this.epoch, sequence),
      type,
      data,
      ...(retry === undefined ? {} : { retry }),
      sequence,
      epoch: this.epoch,
      bytes,
    });
    this.buffer.append(event);
    this.sequence = sequence;
    this.sentBytes += bytes;
    return event;
  }

  private deliver(): void {
    for (const client of this.clients) client.pump();
  }

  /** The final event is appended whatever its size: a stream must always be able to end. */
  private finish(state: StreamState, type: string, data: object): boolean {
    if (this.isFinished) return false;
    this.append(type, JSON.stringify(data), undefined);
    this.currentState = state;
    this.endedAt = Date.now();
    clearTimeout(this.timeoutTimer);
    this.abortController.abort(new Error(`stream ${state}`));
    this.deliver();
    this.heartbeatListeners.clear();
    this.syncHeartbeatTimer();
    this.resolveFinished(state);
    this.hooks.onFinish(this);
    return true;
  }

  private positionMessage(cursor: number): PositionMessage {
    const id = formatEventId(this.epoch, cursor);
    return this.options.retryMs === undefined ? { id } : { id, retry: this.options.retryMs };
  }

  private resetMessage(reason: ResetReason, cursor: number, lastEventId: string | null | undefined): ResetMessage {
    const id = formatEventId(this.epoch, cursor);
    const data = JSON.stringify({ reason, lastEventId: lastEventId ?? null, resumesAfter: id });
    const message = { id, type: this.options.eventTypes.reset, data };
    return this.options.retryMs === undefined ? message : { ...message, retry: this.options.retryMs };
  }

  /** @throws StreamLimitError (503) when the stream already has `maxClientsPerStream` clients. */
  assertClientCapacity(): void {
    if (this.clients.size >= this.options.maxClientsPerStream) {
      throw new StreamLimitError('maxClientsPerStream', this.options.maxClientsPerStream, `Stream ${this.id}`);
    }
  }

  private addHeartbeat(beat: () => void): void {
    this.heartbeatListeners.add(beat);
    this.syncHeartbeatTimer();
  }

  private removeHeartbeat(beat: () => void): void {
    this.heartbeatListeners.delete(beat);
    this.syncHeartbeatTimer();
  }

  /** One timer per stream, running only while someone listens for heartbeats. */
  private syncHeartbeatTimer(): void {
    if (this.heartbeatListeners.size > 0 && !this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(() => {
        for (const beat of this.heartbeatListeners) beat();
      }, this.options.heartbeatMs).unref();
    } else if (this.heartbeatListeners.size === 0 && this.heartbeatTimer) {
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
    }
  }
}
