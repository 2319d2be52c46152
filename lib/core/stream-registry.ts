import { randomBytes } from 'node:crypto';
import type { Observable } from 'rxjs';
import { RegistryClosedError, StreamAlreadyExistsError, StreamLimitError, StreamNotFoundError } from './errors.js';
import type { EventStore } from './event-store.js';
import type { StreamBus } from './stream-bus.js';
import { SILENT_LOGGER, type StreamLogger } from './logger.js';
import { assertDurability, resolveStreamOptions, type ResolvedStreamOptions, type StreamOptions } from './options.js';
import {
  type CreateStreamOptions,
  type RegistryShutdownOptions,
  type StreamAdmission,
  type StreamRegistryOptions,
  type StreamRegistryStats,
} from './registry-options.js';
import { claimingHooks } from './stream-claim.js';
import { RegistryClients } from './registry-clients.js';
import { checkCreateOptions, checkRegistryOptions } from './registry-checks.js';
import { StreamGate } from './stream-gate.js';
import { StreamLocator } from './stream-locator.js';
import { StreamRetention } from './stream-retention.js';
import type { StreamProducer } from './producer.js';
import type { ClientEndReason } from './stream-client.js';
import type { SseMessage, StreamState } from './stream-event.js';
import { cancelStream } from './stream-cancel.js';
import { interjectStream, type InterjectOptions } from './stream-interject.js';
import type { InterjectionReceipt } from './interjections.js';
import { endStreams } from './registry-shutdown.js';
import type { ObserveOptions } from './observe-stream.js';
import { ResumableStream, type StreamHooks } from './stream.js';
import { SharedStream } from './shared-stream.js';
import { StreamMetrics, type StreamTimingListener } from './stream-metrics.js';
import { ActiveStreams } from './active-streams.js';
import { StreamDescriber } from './stream-descriptor.js';
import { UnstoredPool } from './unstored-limit.js';
import { StoreRetention, type StorePurgeResult } from './store-retention.js';
import { deleteStream, type StreamDeletion } from './stream-delete.js';

export * from './registry-options.js';

/**
 * Holds every stream of this process: creates them, finds them by id, and removes finished ones
 * after their retention. Plain TypeScript; the NestJS module provides it for injection.
 */
export class StreamRegistry {
  private readonly streams = new Map<string, ResumableStream>();
  private readonly retention = new StreamRetention(this);
  private readonly locator: StreamLocator;
  private readonly defaults: StreamOptions;
  private readonly maxStreams: number;
  /** @internal Where the registry logs. */
  readonly logger: StreamLogger;
  private readonly hooks: StreamHooks;
  /** The durable tier configured for this registry, if any. */
  readonly store: EventStore | undefined;
  /** The bus shared with other instances, if any. */
  readonly bus: StreamBus | undefined;
  private closed = false;
  private readonly gate: StreamGate;
  private readonly followIdleMs: number;
  private streamsCreated = 0;
  private readonly metrics = new StreamMetrics();
  private readonly clients: RegistryClients;
  private readonly describer: StreamDescriber;
  private readonly active: ActiveStreams;
  private readonly unstored: UnstoredPool;
  private readonly storeRetention: StoreRetention;

  constructor(options: StreamRegistryOptions = {}) {
    const { maxStreams, maxClients, followIdleMs, maxUnstoredBytesTotal } = checkRegistryOptions(options);
    const {
      maxStreams: _maxStreams,
      maxClients: _maxClients,
      followIdleMs: _followIdleMs,
      logger = SILENT_LOGGER,
      store,
      bus,
      authorize,
      onStreamFinished,
      catchups,
      authorizers,
      activeKeys,
      maxUnstoredBytesTotal: _maxUnstoredBytesTotal,
      storeRetentionMs,
      storePurgeEveryMs,
      ...defaults
    } = options;
    this.describer = new StreamDescriber({ catchups, authorizers, activeKeys, logger });
    this.gate = new StreamGate(authorize, logger);
    this.clients = new RegistryClients({ maxClients, metrics: this.metrics, logger });
    this.followIdleMs = followIdleMs;
    resolveStreamOptions(defaults);
    this.defaults = defaults;
    this.maxStreams = maxStreams;
    this.logger = logger;
    this.store = store;
    this.bus = bus;
    this.unstored = new UnstoredPool(maxUnstoredBytesTotal);
    this.hooks = {
      logger,
      store,
      bus,
      unstored: this.unstored,
      finishHooks: onStreamFinished ? [onStreamFinished] : [],
      onFinish: (stream) => this.retention.schedule(stream),
      ...this.metrics.hooks,
      onStoreGone: (id, epoch) => this.storeRetention.letGo(id, epoch),
      onAttach: (tier, outcome) => this.clients.attached(tier, outcome),
      assertClientCapacity: () => this.clients.assertCapacity(),
      onClientEnd: (stream: ResumableStream, reason: ClientEndReason) => {
        this.clients.detached(stream.id, reason, stream.options.maxClientBacklogBytes);
        if (stream.follower) this.retention.dropWhenIdle(stream, this.followIdleMs);
      },
    };
    const registry = this;
    this.locator = new StreamLocator({
      streams: this.streams,
      store,
      bus,
      hooks: this.hooks,
      maxStreams,
      metrics: this.metrics,
      get closed() {
        return registry.closed;
      },
      followed: (stream) => this.retention.dropWhenIdle(stream, this.followIdleMs),
      retain: (stream) => {
        if (!this.retention.has(stream.id)) this.retention.schedule(stream);
      },
      optionsOf: (id, descriptor) => resolveStreamOptions(defaults, this.describer.optionsOf(id, descriptor)),
      described: (stream) => {
        const authorizer = this.describer.authorizerOf(stream.id, stream.options.descriptor);
        if (authorizer) this.gate.guard(stream, authorizer);
      },
    });
    this.active = new ActiveStreams({ describer: this.describer, bus, locate: (id) => this.locate(id) });
    this.storeRetention = new StoreRetention({
      ...{ store, bus, logger, streams: this.streams, remove: (id) => this.remove(id) },
      ...{ retentionMs: storeRetentionMs, everyMs: storePurgeEveryMs },
    });
    this.storeRetention.start();
  }

  /**
   * Creates and starts a stream. `producer` is a work function `async ({ signal, send }) => {}`,
   * an Observable or an AsyncIterable; without one, call `send()` and `complete()` yourself.
   * With a bus (or a store and a given id), whether the id is free everywhere is settled in
   * `whenShared()`: it rejects with `StreamAlreadyExistsError` (409) when another instance holds
   * the id or the store knows it; the stream is then removed, nothing of it reaches the bus or the
   * store. Await `whenShared()` before handing the stream's URL out.
   * @throws StreamAlreadyExistsError (409) for an id taken in this registry, StreamLimitError
   * (503) past maxStreams.
   */
  create<T = unknown>(producer?: StreamProducer<T>, options: CreateStreamOptions = {}): ResumableStream {
    if (this.closed) throw new RegistryClosedError();
    checkCreateOptions(options);
    const { id: givenId, authorize, onFinished, metadata, ...streamOptions } = options;
    const id = givenId ?? randomBytes(16).toString('base64url');
    if (this.streams.has(id)) throw new StreamAlreadyExistsError(id);
    if (this.streams.size >= this.maxStreams) {
      throw new StreamLimitError('maxStreams', this.maxStreams, 'The registry');
    }
    const described = this.describer.describe(metadata, streamOptions, authorize);
    const resolved: ResolvedStreamOptions = resolveStreamOptions(this.defaults, described.options);
    assertDurability(resolved, this.store !== undefined);
    const claimed = this.bus !== undefined || (this.store !== undefined && givenId !== undefined);
    const base = onFinished ? { ...this.hooks, finishHooks: [onFinished, ...this.hooks.finishHooks!] } : this.hooks;
    const hooks = claimed ? claimingHooks(base, givenId !== undefined) : base;
    const stream =
      hooks.bus && this.bus
        ? new SharedStream(id, resolved, hooks, hooks.bus)
        : new ResumableStream(id, resolved, hooks);
    if (described.authorize) this.gate.guard(stream, described.authorize);
    this.streams.set(id, stream);
    this.active.track(stream);
    this.streamsCreated++;
    stream.start(producer as StreamProducer | undefined);
    if (claimed) stream.whenShared().catch((error: unknown) => this.refuse(stream, error));
    return stream;
  }

  /** The id of a new stream is taken elsewhere: drop the stream (its producer is aborted). */
  private refuse(stream: ResumableStream, error: unknown): void {
    this.logger.warn(
      `Stream ${stream.id}: refused and removed. ${error instanceof Error ? error.message : String(error)}`,
    );
    if (this.streams.get(stream.id) === stream) this.remove(stream.id);
  }

  /**
   * The stream with this id from memory or, with a store or a bus, brought back from the store
   * (a finished stream after its retention, or any stream after a restart) or followed from the
   * instance that produces it; undefined when nobody has it. Use it where you can wait.
   */
  locate(id: string, lastEventId?: string | null): Promise<ResumableStream | undefined> {
    return this.locator.locate(id, lastEventId);
  }

  /**
   * The running stream whose metadata matches every field of `key` (e.g. `{ chatId }`), on any
   * instance: what a "resume my chat" endpoint needs (none: answer 204). At least one field must
   * be among the registry's `activeKeys`; with several matches, the one created last. Without a
   * bus, only this process's streams are searched.
   * @throws InvalidStreamInputError (400) when no field of `key` is in `activeKeys`.
   */
  findActive(key: Readonly<Record<string, string>>): Promise<ResumableStream | undefined> {
    if (this.closed) return Promise.reject(new RegistryClosedError());
    return this.active.find(key);
  }

  /**
   * Lets a client in, once, before anything is written: finds the stream (memory, bus, store),
   * asks `authorize`, reads its Last-Event-ID and checks capacity. `StreamGuard` calls it for
   * every request; the request is then admitted for `observe(id, lastEventId, { request })`.
   * Answers at once (not a promise) when the stream is in memory and no hook must be asked.
   * @throws StreamNotFoundError (404) for an unknown stream or a refusal, InvalidEventIdError
   * (400), StreamFullyDeliveredError (204), StreamLimitError or RegistryClosedError (503).
   */
  admit(id: string, lastEventId: string | undefined, request: object): StreamAdmission | Promise<StreamAdmission> {
    if (this.closed) throw new RegistryClosedError();
    const held = this.locator.locateInMemory(id, lastEventId);
    if (held && !this.gate.hasAuthorization(held)) return { stream: held, point: held.admit(lastEventId) };
    return this.admitLater(id, lastEventId, request);
  }

  private async admitLater(id: string, lastEventId: string | undefined, request: object): Promise<StreamAdmission> {
    const stream = await this.locate(id, lastEventId);
    // A refusal looks exactly like an unknown stream, so ids cannot be probed.
    if (!stream || !(await this.gate.isAuthorized(request, stream))) throw new StreamNotFoundError(id);
    // A followed stream may have been let go (idle) while authorize ran: find it again.
    if (this.streams.get(id) !== stream && !this.closed) return this.admitLater(id, lastEventId, request);
    const admission = { stream, point: stream.admit(lastEventId) };
    this.gate.record(request, admission);
    return admission;
  }

  /**
   * Whether `request` may subscribe to `stream`: the registry's `authorize` and the stream's own
   * must both answer exactly `true`. Without hooks, anyone with the id may.
   */
  isAuthorized(request: unknown, stream: ResumableStream): Promise<boolean> {
    return this.gate.isAuthorized(request, stream);
  }

  /** The stream with this id, or undefined. */
  get(id: string): ResumableStream | undefined {
    return this.streams.get(id);
  }

  /** Whether this process holds a stream with this id in memory (see `locate()` for the store and the bus). */
  has(id: string): boolean {
    return this.streams.has(id);
  }

  /** The stream with this id. @throws StreamNotFoundError (404). */
  require(id: string): ResumableStream {
    const stream = this.streams.get(id);
    if (!stream) throw new StreamNotFoundError(id);
    return stream;
  }

  /**
   * Replay after `lastEventId`, then live: what an `@Sse()` handler returns. Synchronous, so it
   * sees only streams in memory: with a store or a bus, `locate()` first (`StreamGuard` does).
   * @throws StreamNotFoundError (404), InvalidEventIdError (400), StreamFullyDeliveredError (204),
   * StreamLimitError or RegistryClosedError (503).
   */
  observe(
    id: string,
    lastEventId?: string | null,
    options: ObserveOptions & { readonly request?: object } = {},
  ): Observable<SseMessage> {
    if (this.closed) throw new RegistryClosedError();
    const { request, ...observeOptions } = options;
    const admitted = this.gate.take(request);
    if (admitted?.stream.id === id) return admitted.stream.observe(admitted.point, observeOptions);
    const stream = this.streams.get(id);
    if (!stream) {
      if (this.store || this.bus) this.gate.warnNotLocated(id);
      throw new StreamNotFoundError(id);
    }
    // Secure by default: with authorize, only a request StreamGuard let in may subscribe.
    if (this.gate.hasAuthorization(stream)) {
      this.gate.warnNotAdmitted(id);
      throw new StreamNotFoundError(id);
    }
    return stream.observe(lastEventId, observeOptions);
  }

  /**
   * Cancels a stream wherever it is produced (with a bus, on any instance): its producer's signal
   * aborts and every client gets the final `cancelled` event. Resolves with the stream's state once
   * it has ended (waiting up to 5 s for another instance): `cancelled`, or the state it had already
   * ended in, as cancelling twice is harmless.
   * @throws StreamNotFoundError (404) when neither this instance, the bus nor the store knows it.
   */
  cancel(id: string, reason = 'cancelled'): Promise<StreamState> {
    return cancelStream(this, id, reason);
  }

  /**
   * Like `cancel()`, but the producer is not aborted (with a bus, from any instance): clients get
   * the final `cancelled` event with `soft: true` at once; the producer sees `ctx.softCancelled`,
   * what it still sends is dropped, and what it returns reaches the finish hooks.
   */
  softCancel(id: string, reason = 'cancelled'): Promise<StreamState> {
    return cancelStream(this, id, reason, true);
  }

  /**
   * Queues text for the stream's producer (`ctx.interjections`), with a bus from any instance:
   * appended to what is queued (joined by the stream's combiner) or, with `mode: 'replace'`,
   * instead of it. Resolves the bytes queued once the producer's buffer holds the text.
   * @throws InvalidStreamInputError (400) for empty or whitespace-only text or an unknown mode.
   * @throws InterjectionTooLargeError (413) past the stream's `interjectionMaxBytes`.
   * @throws StreamFinishedError (409) once the stream has finished (or was soft-cancelled).
   * @throws StreamNotFoundError (404) when neither this instance, the bus nor the store knows it.
   */
  interject(id: string, text: string, options: InterjectOptions = {}): Promise<InterjectionReceipt> {
    return interjectStream(this, id, text, options);
  }

  /** Cancels the stream if it still runs, ends its clients and forgets it. */
  remove(id: string): boolean {
    const stream = this.streams.get(id);
    if (!stream) return false;
    // A follower is only a local copy: let go of it; the stream goes on where it is produced.
    if (!stream.follower) stream.cancel('removed');
    stream.disconnectAll('unsubscribed');
    stream.dispose();
    this.retention.cancel(id);
    return this.streams.delete(id);
  }

  /**
   * Deletes a stream everywhere, now: cancels it if it runs (here, or through the bus on its
   * instance), ends its clients here and drops it from memory, deletes its events and metadata
   * from the store (one transaction) and its keys from the bus. Afterwards its id is unknown
   * (clients get 404) and `create({ id })` may use it again. A store or bus without the optional
   * `deleteStream()` / `delete()` keeps its part (logged). Deleting an unknown id does nothing.
   * @throws InvalidStreamInputError (400) for a malformed id.
   */
  delete(id: string): Promise<StreamDeletion> {
    return deleteStream(this, id);
  }

  /**
   * Runs the store retention purge now (`storeRetentionMs`), or joins the one under way, and
   * resolves what it deleted. It also runs on its own timer; this is for tests and admin tasks.
   */
  purgeStore(): Promise<StorePurgeResult> {
    return this.storeRetention.purge();
  }

  /** Figures for monitoring: streams, clients, buffers, rates, and counters since start. Cheap to call. */
  stats(): StreamRegistryStats {
    return {
      ...this.metrics.snapshot(this.streams.values(), this.streamsCreated, this.store !== undefined),
      unstoredBytes: this.unstored.bytes,
    };
  }

  /** Calls `listener` with timings as they happen (for histograms); returns a function that stops it. */
  listenToTimings(listener: StreamTimingListener): () => void {
    return this.metrics.listen(listener);
  }

  /**
   * Stops accepting streams and clients, then ends what runs. By default at once: running streams
   * are cancelled (clients get the final `cancelled` event with reason `shutdown`). With `drainMs`
   * (meant for a bus: a rolling deploy), this instance's clients are let go at once, to resume on
   * another instance, and running producers get up to `drainMs` to finish before the rest is
   * cancelled. Then it waits up to `graceMs` for clients to leave, and cuts the rest.
   */
  async shutdown(options: RegistryShutdownOptions = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Streams end at once (not after a purge under way): a purge's deletes only wait for it.
    const purging = this.storeRetention.stop();
    await endStreams(
      {
        streams: () => [...this.streams.values()],
        logger: this.logger,
        hasStore: this.store !== undefined,
        whenNoClients: (deadline) => this.clients.whenNone(deadline),
      },
      options,
    );
    await purging;
    await this.bus?.shutdown();
    this.retention.clear();
  }
}
