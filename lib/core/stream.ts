import {
  EventTooLargeError,
  InvalidStreamInputError,
  PublicStreamError,
  StreamProducedElsewhereError,
} from './errors.js';
import type { StoredStreamMeta } from './event-store.js';
import { newEpoch } from './event-id.js';
import { lostEventOf, type ResolvedStreamOptions } from './options.js';
import type { BusEvent, BusOpenOptions } from './stream-bus.js';
import type { StreamProducer } from './producer.js';
import type { StreamLog } from './stream-log.js';
import { buildStreamParts } from './stream-parts.js';
import { serializeData } from './sse-format.js';
import type { StreamClients } from './stream-clients.js';
import { TurnFacingStream } from './turn-facing-stream.js';
import { isFinishedState, type EventInput, type StreamEvent, type StreamState } from './stream-event.js';
import type { StreamPersistence } from './stream-persistence.js';
import { StreamTurn } from './stream-turn.js';
import { EMPTY_METADATA, type StreamMetadata } from './stream-descriptor.js';

import type { FollowedStreamState, RestoredStreamState, StreamHooks } from './stream-origin.js';

export type { FollowedStreamState, RestoredStreamState, StreamHooks };

/**
 * One producer, any number of clients, every event kept in a bounded replay buffer under an id
 * `<epoch>-<sequence>`. Created by `StreamRegistry.create()`.
 */
export class ResumableStream extends TurnFacingStream {
  /** Random per stream history; a client whose id has another epoch is told so. */
  readonly epoch: string;
  /** When the stream object was made (ms since the epoch). */
  readonly createdAt = Date.now();
  protected currentState: StreamState = 'pending';
  protected endedAt: number | undefined;
  protected readonly log: StreamLog;
  protected readonly persistence: StreamPersistence;
  protected readonly clients: StreamClients;
  private timeoutTimer: NodeJS.Timeout | undefined;
  protected readonly abortController = new AbortController();
  /** The producer's run, its soft cancel, and the finish hooks. */
  protected readonly turn: StreamTurn;
  protected shared: Promise<void> = Promise.resolve();
  /** Produced on another instance: events arrive through `ingest()`. */
  readonly follower: boolean;
  /** Created by this process's registry (not brought back from the store or followed from the bus). */
  readonly producedHere: boolean;

  /** @internal Made by `StreamRegistry.create()`, `locate()` and the bus follower. */
  constructor(
    /** The stream's id, as used in URLs. */
    readonly id: string,
    /** The options in force for this stream, defaults filled in. */
    readonly options: ResolvedStreamOptions,
    protected readonly hooks: StreamHooks,
    origin?: RestoredStreamState | FollowedStreamState,
  ) {
    super();
    const follower = origin?.kind === 'follower' ? origin : undefined;
    const restored = origin?.kind !== 'follower' ? origin : undefined;
    this.follower = follower !== undefined;
    this.producedHere = origin === undefined;
    this.epoch = origin?.epoch ?? newEpoch();
    const startAfter = follower?.startAfter ?? restored?.lastSequence ?? 0;
    this.turn = new StreamTurn(this, hooks.logger, origin ? [] : (hooks.finishHooks ?? []));
    const parts = buildStreamParts(
      this,
      hooks,
      { startAfter, storedThrough: follower?.persistedThrough ?? startAfter, readOnly: origin !== undefined },
      (reason) => hooks.onClientEnd(this, reason),
    );
    this.log = parts.log;
    this.persistence = parts.persistence;
    this.clients = parts.clients;
    if (follower) this.currentState = 'running';
  }

  /** @internal Whether another instance may hold events before this one (followed, or shared through a bus). */
  get seesEventsLate(): boolean {
    return this.follower;
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

  /**
   * What the stream is about, as given to `create({ metadata })`: the same on every instance and
   * after a restart (it travels through the bus and the store). Frozen; `{}` when none was given.
   */
  get metadata(): StreamMetadata {
    return this.options.descriptor?.metadata ?? EMPTY_METADATA;
  }

  /** Sequence of the last event issued (0 before the first). */
  get lastSequence(): number {
    return this.log.sequence;
  }

  /** Id of the last event issued, or the "before the first event" position. */
  get lastEventId(): string {
    return this.log.idOf(this.log.sequence);
  }

  /** Events and bytes currently held in the replay buffer. */
  get buffered(): { events: number; bytes: number; firstSequence: number } {
    return { events: this.log.buffer.size, bytes: this.log.buffer.bytes, firstSequence: this.log.buffer.firstSequence };
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
    return this.isFinished ? Promise.resolve() : this.log.whenIssued(sequence, timeoutMs);
  }

  /**
   * Resolves with the final state once the stream has finished and its producer has returned
   * (after a cancel, when it has reacted to its signal), the moment the finish hooks are called.
   */
  whenFinished(): Promise<StreamState> {
    return this.turn.finished;
  }

  /** @internal Resolves once the final event is taken in (clients have it), the producer maybe still running. */
  whenEnded(): Promise<StreamState> {
    return this.turn.ended;
  }

  /** The buffered event with this sequence, if it is still held. */
  eventAt(sequence: number): StreamEvent | undefined {
    return this.log.buffer.get(sequence);
  }

  /**
   * Starts the stream (pending -> running) and its producer, if any. Without a producer the
   * stream stays open for `send()` until `complete()`, `fail()` or `cancel()`.
   * @internal called by the registry.
   */
  start(producer?: StreamProducer): void {
    if (this.currentState !== 'pending') return;
    this.currentState = 'running';
    this.shared = this.hooks.bus?.open(this.id, this.epoch, this.busOpenOptions()) ?? this.shared;
    if (this.options.timeoutMs > 0) {
      this.timeoutTimer = setTimeout(() => this.cancel('timeout'), this.options.timeoutMs).unref();
    }
    if (!producer) return;
    const context = {
      streamId: this.id,
      signal: this.signal,
      send: (input: EventInput) => this.send(input),
      writable: () => this.writable(),
      interjections: this.interjections,
    };
    this.turn.run(producer, context, this.options.toEvent).then(
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
    if (!this.takesEvents) return undefined;
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
    if (!this.takesEvents) {
      this.hooks.logger.debug?.(`Stream ${this.id}: producer error after the stream finished: ${String(error)}`);
      return false;
    }
    this.turn.failedWith(error);
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

  /** Aborts the producer's signal, unless the stream was soft-cancelled (its producer runs on). */
  protected stopProducer(reason: unknown): void {
    if (!this.turn.softCancelled) this.abortController.abort(reason);
  }

  /** How the bus is told of this stream when it starts. */
  protected busOpenOptions(): BusOpenOptions {
    const { retentionMs } = this.options;
    const { descriptor } = this.options;
    return { stored: this.persistence.hasStore, lostEvent: lostEventOf(this.options), retentionMs, descriptor };
  }

  /** Whether `send()` still takes events (a shared stream stops taking them while its end is on its way). */
  protected get takesEvents(): boolean {
    return !this.isFinished;
  }

  /** Issues the next event and takes it in (a shared stream takes it in once the bus holds it). */
  protected append(type: string, data: string, retry: number | undefined, _final?: StreamState): StreamEvent {
    const { event, overLimits } = this.log.append(type, data, retry);
    this.tookIn(event, overLimits);
    return event;
  }

  protected tookIn(event: StreamEvent, overLimits: boolean): void {
    this.hooks.onAppend?.(event, this);
    this.persistence.afterAppend(overLimits);
  }

  /**
   * @internal Takes in an event produced elsewhere (a followed stream's feed, or the ending the
   * bus gave a shared stream's refused producer), with its sequence. Duplicates are ignored; a
   * hole is skipped (see `skipTo`); the final event finishes the stream.
   */
  protected ingestEvent(event: BusEvent): void {
    if (this.isFinished || event.sequence <= this.log.sequence) return;
    if (event.sequence !== this.log.sequence + 1) this.skipTo(this.log.sequence, event.sequence);
    const { event: taken, overLimits } = this.log.append(event.type, event.data, undefined);
    this.tookIn(taken, overLimits);
    if (event.final) this.ended(event.final);
    else this.deliver();
  }

  /** @internal Continues after a hole in what the bus delivered (a follower may read it from the store). */
  protected skipTo(_afterSequence: number, nextSequence: number): void {
    this.log.skipTo(nextSequence - 1);
  }

  protected deliver(): void {
    this.clients.deliver();
  }

  /** The final event is appended whatever its size: a stream must always be able to end. */
  protected finish(state: StreamState, type: string, data: object): boolean {
    if (!this.takesEvents) return false;
    this.append(type, JSON.stringify(data), undefined, state);
    this.ended(state);
    return true;
  }

  /** The final event is taken in: settle, then write what is left to the store. */
  protected ended(state: StreamState): void {
    this.settle(state);
    void this.persistence.afterFinish();
  }

  /** The final event is in the buffer: deliver it, end the clients' wait, release timers. */
  protected settle(state: StreamState): void {
    this.currentState = state;
    this.endedAt = Date.now();
    clearTimeout(this.timeoutTimer);
    this.stopProducer(new Error(`stream ${state}`));
    this.log.release(true);
    this.deliver();
    this.clients.stopHeartbeat();
    this.hooks.onFinish(this);
    this.turn.streamEnded(state);
  }

  protected assertProducedHere(what: string): void {
    if (this.follower && !this.isFinished) {
      throw new StreamProducedElsewhereError(this.id, what);
    }
  }

  /** What the store keeps about this stream, as of the events written so far. */
  meta(throughSequence = this.log.sequence): StoredStreamMeta {
    const complete = this.isFinished && throughSequence >= this.log.sequence;
    return {
      streamId: this.id,
      epoch: this.epoch,
      status: complete ? this.currentState : 'running',
      lastSequence: throughSequence,
      finishedAt: complete && this.endedAt !== undefined ? new Date(this.endedAt) : null,
      ...(this.options.descriptor ? { descriptor: this.options.descriptor } : {}),
    };
  }

  /** Stops background work (timers) and a soft-cancelled producer; the registry calls it when it drops the stream. */
  dispose(): void {
    this.abortController.abort(new Error('stream disposed'));
    this.persistence.stop();
    this.clients.stopHeartbeat();
    clearTimeout(this.timeoutTimer);
  }
}
