import { StreamFullyDeliveredError, StreamLimitError } from './errors.js';
import { HeartbeatTicker, type HeartbeatListener } from './heartbeat.js';
import type { ResolvedStreamOptions } from './options.js';
import type { ReplayBuffer } from './replay-buffer.js';
import {
  catchupTier,
  isResumePoint,
  preambleFor,
  resolveResume,
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
import type { SseMessage } from './stream-event.js';
import type { StreamHooks } from './stream-origin.js';

/** What the clients of a stream read: where it stands, its buffer and its store tier. */
export interface ClientsView {
  readonly id: string;
  readonly epoch: string;
  readonly options: ResolvedStreamOptions;
  readonly lastSequence: number;
  readonly isFinished: boolean;
  /** Total bytes of data ever sent on the stream. */
  readonly sentBytes: number;
  readonly buffer: ReplayBuffer;
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
    };
    this.context = {
      epoch: view.epoch,
      get lastSequence() {
        return view.lastSequence;
      },
      get firstHeldSequence() {
        return buffer.firstSequence;
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

  /** See `ResumableStream.admit()`: 400, 204, 503, or where the client continues. */
  admit(lastEventId: string | null | undefined): ResumePoint {
    const point = resolveResume(this.context, lastEventId);
    // An empty 200 would make EventSource reconnect for ever; 204 tells it to stop.
    const { view } = this;
    if (lastEventId && view.isFinished && point.cursor === view.lastSequence && !point.reset) {
      throw new StreamFullyDeliveredError(view.id);
    }
    this.assertCapacity();
    return point;
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
    this.hooks.onAttach?.(catchupTier(this.context, point));
    const first = preambleFor(this.context, point);
    if (first) preamble?.(first);
    this.clients.add(client);
    client.pump();
    return client;
  }

  /** Every client takes what it can of what was appended. */
  deliver(): void {
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
