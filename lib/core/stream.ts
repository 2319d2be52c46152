import type { Observable } from 'rxjs';
import {
  EventTooLargeError,
  InvalidStreamInputError,
  PublicStreamError,
  StreamFullyDeliveredError,
  StreamLimitError,
  StreamProducedElsewhereError,
} from './errors.js';
import type { EventStore, PersistFunction, StoredStreamMeta } from './event-store.js';
import type { BusEvent, StreamBus } from './stream-bus.js';
import { formatEventId, newEpoch, parseEventId } from './event-id.js';
import { HeartbeatTicker, type HeartbeatListener } from './heartbeat.js';
import type { StreamLogger } from './logger.js';
import { observeStream, type ObserveOptions } from './observe-stream.js';
import { eventsPerBusRead, type ResolvedStreamOptions } from './options.js';
import {
  catchupTier,
  isResumePoint,
  preambleFor,
  resolveResume,
  type ResumeContext,
  type ResumePoint,
} from './resume.js';
import type { CatchupTier } from './stream-metrics.js';
import { runProducer, type StreamProducer } from './producer.js';
import { ReplayBuffer } from './replay-buffer.js';
import { assertSseField, serializeData } from './sse-format.js';
import { StreamClient, type ClientEndReason, type ClientSink, type ClientSource } from './stream-client.js';
import {
  isFinishedState,
  type EventInput,
  type SseMessage,
  type StreamEvent,
  type StreamState,
} from './stream-event.js';
import { StreamHistory } from './stream-history.js';
import { StreamPersistence, type PersistResult } from './stream-persistence.js';

/** Called by the stream; the registry uses them for bookkeeping. */
export interface StreamHooks {
  readonly logger: StreamLogger;
  /** The durable tier, when one is configured. */
  readonly store?: EventStore;
  /** Shares streams with other instances, when one is configured. */
  readonly bus?: StreamBus;
  onFinish(stream: ResumableStream): void;
  onClientEnd(stream: ResumableStream, reason: ClientEndReason): void;
  /** An event was appended (produced here or received from the bus). */
  onAppend?(bytes: number): void;
  /** A client connected; `tier` is where its first event comes from. */
  onAttach?(tier: CatchupTier): void;
  /** Throws when the instance cannot take another client (`maxClients`). */
  assertClientCapacity?(): void;
}

/** A stream brought back from its stored metadata (no longer in memory, or the process restarted). */
export interface RestoredStreamState {
  /** Marks a restored stream. */
  readonly kind?: 'restored';
  /** The stored epoch. */
  readonly epoch: string;
  /** The last stored sequence. */
  readonly lastSequence: number;
  /** The stored state; a stream stored as running was interrupted. */
  readonly state: StreamState;
  /** When it finished (ms since the epoch), if it did. */
  readonly finishedAt: number | undefined;
}

/** A local copy of a stream produced on another instance, fed by the bus. */
export interface FollowedStreamState {
  /** Marks a followed stream. */
  readonly kind: 'follower';
  /** The epoch the producer gave the stream. */
  readonly epoch: string;
  /** The bus holds events after this sequence; older ones are in the store. */
  readonly startAfter: number;
  /** Every event up to this sequence is in the store. */
  readonly persistedThrough: number;
}

/**
 * One producer, any number of clients, every event kept in a bounded replay buffer under an id
 * `<epoch>-<sequence>`. Created by `StreamRegistry.create()`.
 */
export class ResumableStream {
  /** Random per stream history; a client whose id has another epoch is told so. */
  readonly epoch: string;
  /** When the stream object was made (ms since the epoch). */
  readonly createdAt = Date.now();
  private currentState: StreamState = 'pending';
  private endedAt: number | undefined;
  private sequence = 0;
  private sentBytes = 0;
  private readonly buffer: ReplayBuffer;
  private readonly persistence: StreamPersistence;
  private readonly clients = new Set<StreamClient>();
  private readonly heartbeat: HeartbeatTicker;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private readonly abortController = new AbortController();
  private readonly finishedPromise: Promise<StreamState>;
  private resolveFinished!: (state: StreamState) => void;
  private readonly source: ClientSource;
  /** Where the stream stands for a resuming client: read live, built once (every connection asks, some three times). */
  private readonly resumeContext: ResumeContext;
  private shared: Promise<void> = Promise.resolve();
  /** Produced on another instance: events arrive through `ingest()`. */
  readonly follower: boolean;
  /** Created by this process's registry (not brought back from the store or followed from the bus). */
  readonly producedHere: boolean;
  private unfollow: (() => void) | undefined;
  /** Waiting in `whenIssued()`. */
  private issuedWaiters: { readonly sequence: number; readonly resolve: () => void }[] = [];

  /** @internal Made by `StreamRegistry.create()`, `locate()` and the bus follower. */
  constructor(
    /** The stream's id, as used in URLs. */
    readonly id: string,
    /** The options in force for this stream, defaults filled in. */
    readonly options: ResolvedStreamOptions,
    private readonly hooks: StreamHooks,
    origin?: RestoredStreamState | FollowedStreamState,
  ) {
    const stream = this;
    const follower = origin?.kind === 'follower' ? origin : undefined;
    const restored = origin?.kind !== 'follower' ? origin : undefined;
    this.follower = follower !== undefined;
    this.producedHere = origin === undefined;
    this.epoch = origin?.epoch ?? newEpoch();
    this.sequence = follower?.startAfter ?? restored?.lastSequence ?? 0;
    this.finishedPromise = new Promise((resolve) => (this.resolveFinished = resolve));
    this.persistence = new StreamPersistence(
      {
        id,
        get lastSequence() {
          return stream.sequence;
        },
        meta: () => this.meta(),
        eventsBetween: (from, to) => this.buffer.slice(from, to),
        dropThrough: (sequence) => this.buffer.dropThrough(sequence),
        trimToLimits: () => this.buffer.trim(),
      },
      hooks.store,
      { everyEvents: options.persistEveryEvents, everyMs: options.persistEveryMs, onFinish: options.persistOnFinish },
      hooks.logger,
      follower?.persistedThrough ?? this.sequence,
      origin !== undefined,
      (through) => hooks.bus?.persisted(id, through),
      (error) => this.fail(error),
    );
    this.buffer = new ReplayBuffer(
      { maxEvents: options.bufferMaxEvents, maxBytes: options.bufferMaxBytes },
      (sequence) => this.persistence.canEvict(sequence),
      this.sequence,
    );
    this.heartbeat = new HeartbeatTicker(options.heartbeatMs);
    const history = hooks.store && new StreamHistory(id, this.epoch, options, hooks.store, hooks.logger);
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
      get firstHeldSequence() {
        return stream.buffer.firstSequence;
      },
      eventAt: (sequence) => this.buffer.get(sequence),
      endOffset: (sequence) => this.buffer.endOffset(sequence),
      canReadHistory: (sequence) => this.persistence.hasStore && sequence < this.persistence.persistedThrough,
      readHistory: (sequence, first) => history!.read(sequence, this.persistence.persistedThrough, first),
      detach: (client, reason) => {
        this.clients.delete(client);
        this.hooks.onClientEnd(this, reason);
      },
    };
    this.resumeContext = {
      epoch: this.epoch,
      get lastSequence() {
        return stream.sequence;
      },
      get firstHeldSequence() {
        return stream.buffer.firstSequence;
      },
      canReadHistory: this.source.canReadHistory,
      retryMs: options.retryMs,
      resetType: options.eventTypes.reset,
    };
    if (restored) this.restore(restored);
    if (follower) this.currentState = 'running';
  }

  /** Where the stream stands: pending, running, completed, failed or cancelled. */
  get state(): StreamState {
    return this.currentState;
  }

  /** True once the stream has completed, failed or been cancelled. */
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

  /** Clients connected to this stream in this process. */
  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * Where this process's clients stand, as one value that changes when a client moves, joins or
   * leaves. Cheap enough for a check once a second, not for every event.
   */
  get clientProgress(): string {
    let progress = '';
    for (const client of this.clients) progress += `${client.position},`;
    return progress;
  }

  /** Events and bytes currently held in the replay buffer. */
  get buffered(): { events: number; bytes: number; firstSequence: number } {
    return { events: this.buffer.size, bytes: this.buffer.bytes, firstSequence: this.buffer.firstSequence };
  }

  /** Aborted when the stream finishes in any way; what producers watch. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  /**
   * Resolves once other instances can find this stream through the bus (at once without a bus).
   * Await it before handing the stream's URL to a client that may connect to another instance.
   */
  whenShared(): Promise<void> {
    return this.shared;
  }

  /** Resolves once the stream has issued `sequence` or has finished, or after `timeoutMs`. */
  whenIssued(sequence: number, timeoutMs: number): Promise<void> {
    if (this.sequence >= sequence || this.isFinished) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { sequence, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.issuedWaiters = this.issuedWaiters.filter((other) => other !== waiter);
        resolve();
      }, timeoutMs);
      this.issuedWaiters.push(waiter);
    });
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
    this.shared = this.hooks.bus?.open(this.id, this.epoch, this.persistence.hasStore) ?? this.shared;
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
    this.assertProducedHere('send()');
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
    this.assertProducedHere('cancel()');
    return this.finish('cancelled', this.options.eventTypes.cancelled, { status: 'cancelled', reason });
  }

  /** True when the stream has finished and `lastEventId` is its final event: nothing left to send. */
  isFullySeenBy(lastEventId: string | null | undefined): boolean {
    if (!this.isFinished || !lastEventId) return false;
    const position = parseEventId(lastEventId);
    return position.epoch === this.epoch && position.sequence === this.sequence;
  }

  /**
   * Where a client that sent `lastEventId` continues. Throws `InvalidEventIdError` (400) for an id
   * that is malformed or ahead of the stream.
   */
  resolveResume(lastEventId?: string | null): ResumePoint {
    return resolveResume(this.resumeContext, lastEventId);
  }

  /**
   * Decides, before anything is written, whether a client that sent `lastEventId` may connect, and
   * where it continues: `InvalidEventIdError` (400) for a malformed id or one ahead of the stream,
   * `StreamFullyDeliveredError` (204) when it already has the final event of a finished stream,
   * `StreamLimitError` (503) when the stream or the instance is full. `StreamGuard` calls it once
   * per request; `observe()` and `attach()` take the point it returns.
   */
  admit(lastEventId?: string | null): ResumePoint {
    const point = resolveResume(this.resumeContext, lastEventId);
    // An empty 200 would make EventSource reconnect for ever; 204 tells it to stop.
    if (lastEventId && this.isFinished && point.cursor === this.sequence && !point.reset) {
      throw new StreamFullyDeliveredError(this.id);
    }
    this.assertClientCapacity();
    return point;
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
    const context = this.resumeContext;
    // A point was admitted already (capacity included); an id is read now.
    let point: ResumePoint;
    if (isResumePoint(from)) {
      point = from;
    } else {
      this.assertClientCapacity();
      point = resolveResume(context, from);
    }
    const client = new StreamClient(this.source, point.cursor, sink, this.options.maxClientBacklogBytes);
    this.hooks.onAttach?.(catchupTier(context, point));
    const first = preambleFor(context, point);
    if (first) preamble?.(first);
    this.clients.add(client);
    client.pump();
    return client;
  }

  /** Ends every client (reason `shutdown`) without finishing the stream. */
  disconnectAll(reason: ClientEndReason): void {
    for (const client of [...this.clients]) client.close(reason);
  }

  private append(type: string, data: string, retry: number | undefined, final?: StreamState): StreamEvent {
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
    const overLimits = this.buffer.append(event);
    this.sequence = sequence;
    this.sentBytes += bytes;
    this.hooks.onAppend?.(bytes);
    if (this.issuedWaiters.length > 0) this.releaseWaiters();
    this.persistence.afterAppend(overLimits);
    if (this.producedHere) this.hooks.bus?.publish(this.id, event, final);
    return event;
  }

  private releaseWaiters(): void {
    const waiting = this.issuedWaiters;
    this.issuedWaiters = waiting.filter((waiter) => waiter.sequence > this.sequence && !this.isFinished);
    for (const waiter of waiting) if (!this.issuedWaiters.includes(waiter)) waiter.resolve();
  }

  private deliver(): void {
    for (const client of this.clients) client.pump();
  }

  /** The final event is appended whatever its size: a stream must always be able to end. */
  private finish(state: StreamState, type: string, data: object): boolean {
    if (this.isFinished) return false;
    this.append(type, JSON.stringify(data), undefined, state);
    this.settle(state);
    this.hooks.bus?.close(this.id, this.options.retentionMs);
    void this.persistence.afterFinish();
    return true;
  }

  /** The final event is in the buffer: deliver it, end the clients' wait, release timers. */
  private settle(state: StreamState): void {
    this.currentState = state;
    this.endedAt = Date.now();
    clearTimeout(this.timeoutTimer);
    this.abortController.abort(new Error(`stream ${state}`));
    this.releaseWaiters();
    this.deliver();
    this.heartbeat.stop();
    this.resolveFinished(state);
    this.hooks.onFinish(this);
  }

  /**
   * @internal A follower's feed: appends an event produced on another instance, with its
   * sequence. Duplicates are ignored; the final event finishes the stream.
   */
  ingest(event: BusEvent): void {
    if (!this.follower || this.isFinished || event.sequence <= this.sequence) return;
    if (event.sequence !== this.sequence + 1) {
      this.skipTo(this.sequence, event.sequence);
    }
    this.append(event.type, event.data, undefined);
    if (event.final) this.settle(event.final);
    else this.deliver();
  }

  /**
   * @internal The bus lost events after `afterSequence`: they can only come from the store. If
   * it does not have them, memory starts over after the hole and clients that need the lost
   * events are cut, to be told with a `reset` when they reconnect.
   */
  skipTo(afterSequence: number, nextSequence: number): void {
    if (this.persistence.hasStore && this.persistence.persistedThrough >= nextSequence - 1) {
      this.sequence = nextSequence - 1;
      this.buffer.skipTo(nextSequence - 1);
      return;
    }
    this.hooks.logger.warn(
      `Stream ${this.id}: events ${afterSequence + 1} to ${nextSequence - 1} were lost by the bus and are not stored; clients that need them get a reset.`,
    );
    this.sequence = nextSequence - 1;
    this.buffer.skipTo(nextSequence - 1);
    this.deliver();
  }

  /** @internal Starts following the producing instance through the bus. */
  followBus(bus: StreamBus): void {
    const lost = (): BusEvent => ({
      sequence: this.sequence + 1,
      type: this.options.eventTypes.error,
      data: JSON.stringify({
        status: 'failed',
        message: 'The producer was lost: its instance stopped.',
        reason: 'producer_lost',
      }),
      final: 'failed',
    });
    const follower = {
      event: (event: BusEvent) => this.ingest(event),
      gap: (after: number, next: number) => this.skipTo(after, next),
      stored: (through: number) => this.storedThrough(through),
      retentionMs: this.options.retentionMs,
      batchEvents: eventsPerBusRead(this.options),
    };
    this.unfollow = bus.follow(this.id, this.sequence, follower, lost);
  }

  private assertProducedHere(what: string): void {
    if (this.follower && !this.isFinished) {
      throw new StreamProducedElsewhereError(this.id, what);
    }
  }

  /** @internal A follower learns how far the producer has stored. */
  storedThrough(throughSequence: number): void {
    this.persistence.advanceTo(throughSequence);
  }

  /** @throws StreamLimitError (503) when the stream already has `maxClientsPerStream` clients. */
  assertClientCapacity(): void {
    if (this.clients.size >= this.options.maxClientsPerStream) {
      throw new StreamLimitError('maxClientsPerStream', this.options.maxClientsPerStream, `Stream ${this.id}`);
    }
    this.hooks.assertClientCapacity?.();
  }

  /** @internal used by the Observable adapter. */
  get heartbeatEnabled(): boolean {
    return this.options.heartbeatMs > 0;
  }

  /** @internal used by the Observable adapter. */
  addHeartbeat(listener: HeartbeatListener): void {
    this.heartbeat.add(listener);
  }

  /** @internal used by the Observable adapter. */
  removeHeartbeat(listener: HeartbeatListener): void {
    this.heartbeat.remove(listener);
  }

  /** Every event up to this sequence is in the store. */
  get persistedThrough(): number {
    return this.persistence.persistedThrough;
  }

  /**
   * Writes every event issued so far to the store (or with `writer`), keeping them in memory.
   * Concurrent calls queue; none writes an event twice. A stream brought back from the store has
   * nothing to write (`persisted: 0`); one produced on another instance rejects with
   * `StreamProducedElsewhereError` (409) while it holds events its producer has not stored.
   */
  persist(writer?: PersistFunction): Promise<PersistResult> {
    return this.persistence.persist(writer);
  }

  /**
   * Writes every event issued so far in one transaction, then removes exactly those from memory.
   * Events sent during the write stay buffered; a failed write keeps everything and rejects.
   * Clients that need removed events read them from the store. See `persist()` for streams
   * brought back from the store or produced elsewhere.
   */
  persistAndClear(writer?: PersistFunction): Promise<PersistResult> {
    return this.persistence.persistAndClear(writer);
  }

  /** What the store keeps about this stream, as of the events written so far. */
  meta(throughSequence = this.sequence): StoredStreamMeta {
    const complete = this.isFinished && throughSequence >= this.sequence;
    return {
      streamId: this.id,
      epoch: this.epoch,
      status: complete ? this.currentState : 'running',
      lastSequence: throughSequence,
      finishedAt: complete && this.endedAt !== undefined ? new Date(this.endedAt) : null,
    };
  }

  /** Stops background work (timers); the registry calls it when it drops the stream. */
  dispose(): void {
    this.unfollow?.();
    this.persistence.stop();
    this.heartbeat.stop();
    clearTimeout(this.timeoutTimer);
  }

  private restore(restored: RestoredStreamState): void {
    this.persistence.stop();
    if (isFinishedState(restored.state)) {
      this.currentState = restored.state;
      this.endedAt = restored.finishedAt ?? Date.now();
      this.abortController.abort(new Error('restored from the store'));
      this.resolveFinished(this.currentState);
      return;
    }
    // Its producer's process ended before the stream did: served as far as it was stored, then
    // a final error event (in memory only; a later restore issues the same one, with the same id).
    this.currentState = 'running';
    const data = {
      status: 'failed',
      message: 'The stream was interrupted: its producer stopped before it finished.',
      reason: 'interrupted',
    };
    this.append(this.options.eventTypes.error, JSON.stringify(data), undefined);
    this.settle('failed');
  }
}
