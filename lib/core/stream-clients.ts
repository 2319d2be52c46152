import type { Observable } from 'rxjs';
import { StreamFullyDeliveredError, StreamLimitError } from './errors.js';
import { HeartbeatTicker, type HeartbeatListener } from './heartbeat.js';
import type { ResolvedStreamOptions } from './options.js';
import type { ReplayBuffer } from './replay-buffer.js';
import {
  catchupTier,
  isAdmittedPoint,
  isResumePoint,
  preambleFor,
  resolveResume,
  resumeOutcome,
  type AdmittedPoint,
  type ResumeContext,
  type ResumePoint,
} from './resume.js';
import {
  StreamClient,
  type ClientEndReason,
  type ClientSink,
  type ClientSource,
  type HistoryPage,
} from './stream-client.js';
import { parseEventId } from './event-id.js';
import { observeStream, type ObserveOptions } from './observe-stream.js';
import type { SseMessage } from './stream-event.js';
import type { StreamHooks } from './stream-origin.js';
import type { EpochTail } from './stream-log.js';

/** What the clients of a stream read: where it stands, its buffer and its store tier. */
export interface ClientsView {
  readonly id: string;
  readonly epoch: string;
  readonly options: ResolvedStreamOptions;
  readonly lastSequence: number;
  readonly isFinished: boolean;
  /** Produced on another instance, followed here through the bus. */
  readonly follower: boolean;
  /** Total bytes of data ever sent on the stream. */
  readonly sentBytes: number;
  readonly buffer: ReplayBuffer;
  /** Set when the stream ended under another epoch (its producer's process died). */
  readonly tail: EpochTail | undefined;
  canReadHistory(sequence: number): boolean;
  readHistory(sequence: number, first: boolean): Promise<HistoryPage>;
}

/**
 * The clients of one stream in this process: who may connect and where each continues, their
 * cursors, their heartbeats. Every client reads the stream's shared buffer (or its store).
 */
export class StreamClients {
  private readonly clients = new Set<StreamClient>();
  private readonly heartbeat: HeartbeatTicker;
  private readonly source: ClientSource;
  /** Where the stream stands for a resuming client: read live, built once. */
  private readonly context: ResumeContext;

  constructor(
    private readonly view: ClientsView,
    private readonly hooks: StreamHooks,
    onEnd: (reason: ClientEndReason) => void,
  ) {
    const { buffer, options } = view;
    this.heartbeat = new HeartbeatTicker(options.heartbeatMs);
    this.source = {
      get lastSequence() {
        return view.lastSequence;
      },
      get isFinished() {
        return view.isFinished;
      },
      get sentBytes() {
        return view.sentBytes;
      },
      get firstHeldSequence() {
        return buffer.firstSequence;
      },
      eventAt: (sequence) => buffer.get(sequence),
      endOffset: (sequence) => buffer.endOffset(sequence),
      canReadHistory: (sequence) => view.canReadHistory(sequence),
      readHistory: (sequence, first) => view.readHistory(sequence, first),
      detach: (client, reason) => {
        this.clients.delete(client);
        onEnd(reason);
      },
      delivered: hooks.delivered,
    };
    this.context = {
      epoch: view.epoch,
      get lastSequence() {
        return view.lastSequence;
      },
      get firstHeldSequence() {
        return buffer.firstSequence;
      },
      get tail() {
        return view.tail;
      },
      canReadHistory: this.source.canReadHistory,
      retryMs: options.retryMs,
      resetType: options.eventTypes.reset,
    };
  }

  get count(): number {
    return this.clients.size;
  }

  /** Where the clients stand, as one value that changes when a client moves, joins or leaves. */
  get progress(): string {
    let progress = '';
    for (const client of this.clients) progress += `${client.position},`;
    return progress;
  }

  /** Where a client that sent `lastEventId` continues (400 for an id malformed or ahead). */
  resolve(lastEventId: string | null | undefined): ResumePoint {
    return resolveResume(this.context, lastEventId);
  }

  /** See `ResumableStream.admit()`: 400, 204, 503, or where the client continues and how. */
  admit(lastEventId: string | null | undefined): AdmittedPoint {
    const point = resolveResume(this.context, lastEventId);
    // An empty 200 would make EventSource reconnect for ever; 204 tells it to stop.
    const { view } = this;
    if (lastEventId && view.isFinished && point.cursor === view.lastSequence && !point.reset) {
      this.hooks.onFullyDelivered?.();
      throw new StreamFullyDeliveredError(view.id);
    }
    this.assertCapacity();
    return { ...point, outcome: resumeOutcome(this.context, point, view.follower) };
  }

  /** A new client from `from` (a Last-Event-ID to read, or an admitted point). */
  attach(sink: ClientSink, from?: string | null | ResumePoint, preamble?: (message: SseMessage) => void): StreamClient {
    // A point was admitted already (capacity included); an id is read now.
    let point: ResumePoint;
    if (isResumePoint(from)) {
      point = from;
    } else {
      this.assertCapacity();
      point = resolveResume(this.context, from);
    }
    const client = new StreamClient(this.source, point.cursor, sink, this.view.options.maxClientBacklogBytes);
    // Counted as the header said it, when the point was admitted: the stream may have moved on since.
    const outcome = isAdmittedPoint(point) ? point.outcome : resumeOutcome(this.context, point, this.view.follower);
    this.hooks.onAttach?.(catchupTier(this.context, point), outcome);
    const first = preambleFor(this.context, point);
    if (first) preamble?.(first);
    this.clients.add(client);
    client.pump();
    return client;
  }

  /** Every client takes what it can of what was appended. */
  deliver(): void {
    this.heartbeat.wrote();
    for (const client of this.clients) client.pump();
  }

  disconnectAll(reason: ClientEndReason): void {
    for (const client of [...this.clients]) client.close(reason);
  }

  /** @throws StreamLimitError (503) when the stream or the instance has no room for another client. */
  assertCapacity(): void {
    const { maxClientsPerStream } = this.view.options;
    if (this.clients.size >= maxClientsPerStream) {
      throw new StreamLimitError('maxClientsPerStream', maxClientsPerStream, `Stream ${this.view.id}`);
    }
    this.hooks.assertClientCapacity?.();
  }

  addHeartbeat(listener: HeartbeatListener): void {
    this.heartbeat.add(listener);
  }

  removeHeartbeat(listener: HeartbeatListener): void {
    this.heartbeat.remove(listener);
  }

  stopHeartbeat(): void {
    this.heartbeat.stop();
  }
}

/**
 * What a stream's clients use of it: who may connect and from where, the Observable or a sink of
 * one's own, the heartbeats. `ResumableStream` is the one that holds the events.
 */
export abstract class ClientFacingStream {
  /** Random per stream history; a client whose id has another epoch is told so. */
  abstract readonly epoch: string;
  /** True once the stream has completed, failed or been cancelled. */
  abstract get isFinished(): boolean;
  /** Sequence of the last event issued (0 before the first). */
  abstract get lastSequence(): number;
  /** Id of the last event issued, or the "before the first event" position. */
  abstract get lastEventId(): string;
  /** The options in force for this stream, defaults filled in. */
  abstract readonly options: ResolvedStreamOptions;
  protected abstract readonly clients: StreamClients;

  /** Clients connected to this stream in this process. */
  get clientCount(): number {
    return this.clients.count;
  }

  /**
   * Where this process's clients stand, as one value that changes when a client moves, joins or
   * leaves. Cheap enough for a check once a second, not for every event.
   */
  get clientProgress(): string {
    return this.clients.progress;
  }

  /** True when the stream has finished and `lastEventId` is its final event: nothing left to send. */
  isFullySeenBy(lastEventId: string | null | undefined): boolean {
    if (!this.isFinished || !lastEventId) return false;
    parseEventId(lastEventId);
    return lastEventId === this.lastEventId;
  }

  /**
   * Where a client that sent `lastEventId` continues. Throws `InvalidEventIdError` (400) for an id
   * that is malformed or ahead of the stream.
   */
  resolveResume(lastEventId?: string | null): ResumePoint {
    return this.clients.resolve(lastEventId);
  }

  /**
   * Decides, before anything is written, whether a client that sent `lastEventId` may connect, and
   * where it continues: `InvalidEventIdError` (400) for a malformed id or one ahead of the stream,
   * `StreamFullyDeliveredError` (204) when it already has the final event of a finished stream,
   * `StreamLimitError` (503) when the stream or the instance is full. `StreamGuard` calls it once
   * per request; `observe()` and `attach()` take the point it returns. The point says how the
   * client is resumed (`outcome`, the `Meridian-Resume` header).
   */
  admit(lastEventId?: string | null): AdmittedPoint {
    return this.clients.admit(lastEventId);
  }

  /**
   * Every event after `from` (a Last-Event-ID, or the point {@link admit} returned; from the first
   * event when none), then live ones, with no gap and no duplicate; completes after the final
   * event. Return it from a NestJS `@Sse()` handler.
   * The first message is a `reset` event when the position cannot be continued seamlessly, else,
   * when `retryMs` is set, an id-only position marker with the `retry:` hint. Throws synchronously
   * (before any header is written): `InvalidEventIdError` (400) for an invalid id,
   * `StreamFullyDeliveredError` (204) when `lastEventId` is the final event of a finished stream,
   * `StreamLimitError` (503) when the stream is full.
   */
  observe(from?: string | null | ResumePoint, options: ObserveOptions = {}): Observable<SseMessage> {
    const point = isResumePoint(from) ? from : this.admit(from);
    return observeStream(this, point, options);
  }

  /**
   * Low-level: attaches a client that writes to `sink`, for transports with their own
   * backpressure. `sink.write()` returning false pauses the client until `client.resume()`;
   * a paused client that falls `maxClientBacklogBytes` behind, or behind the buffer, is cut with
   * reason `slow`. `preamble` receives the reset event or position marker first, when there is one.
   */
  attach(sink: ClientSink, from?: string | null | ResumePoint, preamble?: (message: SseMessage) => void): StreamClient {
    return this.clients.attach(sink, from, preamble);
  }

  /** Ends every client (reason `shutdown`) without finishing the stream. */
  disconnectAll(reason: ClientEndReason): void {
    this.clients.disconnectAll(reason);
  }

  /** @throws StreamLimitError (503) when the stream already has `maxClientsPerStream` clients. */
  assertClientCapacity(): void {
    this.clients.assertCapacity();
  }

  /** @internal used by the Observable adapter. */
  get heartbeatEnabled(): boolean {
    return this.options.heartbeatMs > 0;
  }

  /** @internal used by the Observable adapter. */
  addHeartbeat(listener: HeartbeatListener): void {
    this.clients.addHeartbeat(listener);
  }

  /** @internal used by the Observable adapter. */
  removeHeartbeat(listener: HeartbeatListener): void {
    this.clients.removeHeartbeat(listener);
  }
}
