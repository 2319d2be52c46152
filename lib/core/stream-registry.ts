import { randomBytes } from 'node:crypto';
import type { Observable } from 'rxjs';
import {
  InvalidStreamInputError,
  RegistryClosedError,
  StreamAlreadyExistsError,
  StreamLimitError,
  StreamNotFoundError,
} from './errors.js';
import type { EventStore } from './event-store.js';
import { parseEventId } from './event-id.js';
import type { StreamBus } from './stream-bus.js';
import { SILENT_LOGGER, type StreamLogger } from './logger.js';
import { eventsPerBusRead, resolveStreamOptions, type ResolvedStreamOptions, type StreamOptions } from './options.js';
import type { StreamProducer } from './producer.js';
import type { ClientEndReason } from './stream-client.js';
import type { SseMessage, StreamState } from './stream-event.js';
import type { ObserveOptions } from './observe-stream.js';
import type { ResumePoint } from './resume.js';
import { ResumableStream, type StreamHooks } from './stream.js';
import { StreamMetrics, type CatchupTier, type LocateSource } from './stream-metrics.js';

/** Options of a registry: limits, plus the defaults of every stream it creates. */
export interface StreamRegistryOptions extends StreamOptions {
  /** Most streams held at once (running and retained). Default 10000. */
  readonly maxStreams?: number;
  /** Most clients connected at once, all streams of this instance together. Default 50000. */
  readonly maxClients?: number;
  /**
   * Who may subscribe to which stream, checked by `StreamGuard` for every stream: created here,
   * brought back from the store, or followed from another instance. Runs after your own auth
   * guards (so `request.user` is set), before anything reveals whether the stream exists; a
   * refusal is answered 404, exactly like an unknown stream. Default: anyone with the id.
   */
  readonly authorize?: StreamAuthorizer;
  /** Where the registry logs (a NestJS Logger fits). Default: nothing is logged. */
  readonly logger?: StreamLogger;
  /**
   * The durable tier: events are written to it (see the persist options), clients catch up from
   * it, and streams that left memory are served from it. Default: none (memory only).
   */
  readonly store?: EventStore;
  /**
   * Shares streams with other instances (`RedisStreamBus` from nestjs-meridian-stream/redis).
   * Default: none; every stream lives in this process.
   */
  readonly bus?: StreamBus;
}

/** Options of `create()`: a stream's own options, and optionally its id. */
export interface CreateStreamOptions extends StreamOptions {
  /** Use this id instead of a generated one: 1 to 128 of `A-Z a-z 0-9 _ -`. */
  readonly id?: string;
  /**
   * Who may subscribe, checked by `StreamGuard` with the request (after your own auth guards
   * ran, so `request.user` is set). A refusal is answered 404, exactly like an unknown stream.
   * It lives in this process's memory with the stream: on an instance that only follows the
   * stream, or after a restart, only the module-wide `authorize` applies, so use that one too
   * when streams outlive their process.
   */
  readonly authorize?: StreamAuthorizer;
}

/** A client let in: the stream it asked for and where it continues. What `admit()` resolves to. */
export interface StreamAdmission {
  /** The stream, in memory now (from here, the store or another instance). */
  readonly stream: ResumableStream;
  /** Where the client continues; hand it to `stream.observe()` or `stream.attach()`. */
  readonly point: ResumePoint;
}

/**
 * Decides whether a request may subscribe to a stream. `request` is the HTTP request as Nest
 * hands it to guards (Express `Request`, Fastify `FastifyRequest`).
 */
export type StreamAuthorizer = (request: unknown, stream: ResumableStream) => boolean | Promise<boolean>;

/** What `stats()` reports. */
export interface StreamRegistryStats {
  /** Streams held (running and retained). */
  streams: number;
  /** Streams by state. */
  byState: Record<StreamState, number>;
  /** Clients connected, all streams. */
  clients: number;
  /** Events currently held in replay buffers. */
  bufferedEvents: number;
  /** Bytes of data of the events held in replay buffers. */
  bufferedBytes: number;
  /** Streams created since the registry started. */
  streamsCreated: number;
  /** Clients cut for being too slow, since the registry started. */
  slowClientDisconnects: number;
  /** Events appended (produced here or received from the bus) since start. */
  eventsTotal: number;
  /** Bytes of data of the events appended since start. */
  bytesTotal: number;
  /** Events appended per second, averaged over the last 10 full seconds. */
  eventsPerSecond: number;
  /** Bytes of data appended per second, averaged over the last 10 full seconds. */
  bytesPerSecond: number;
  /** Clients connected since start. */
  clientsAttached: number;
  /** Clients connected since start, by where their first event came from. */
  catchup: Record<CatchupTier, number>;
  /** Streams `locate()` brought into memory, from the store and from the bus (another instance). */
  located: Record<LocateSource, number>;
}

/** Default of {@link StreamRegistryOptions.maxClients}. */
export const DEFAULT_MAX_CLIENTS = 50_000;

const STREAM_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
/** Default of {@link StreamRegistryOptions.maxStreams}. */
export const DEFAULT_MAX_STREAMS = 10_000;
/** How often a stream past its retention is looked at again while it cannot be removed yet. */
const RETENTION_RECHECK_MS = 1_000;

/**
 * Holds every stream of this process: creates them, finds them by id, and removes finished ones
 * after their retention. Plain TypeScript; the NestJS module provides it for injection.
 */
export class StreamRegistry {
  private readonly streams = new Map<string, ResumableStream>();
  private readonly retentionTimers = new Map<string, NodeJS.Timeout>();
  private readonly defaults: StreamOptions;
  private readonly maxStreams: number;
  private readonly logger: StreamLogger;
  private readonly hooks: StreamHooks;
  /** The durable tier configured for this registry, if any. */
  readonly store: EventStore | undefined;
  /** The bus shared with other instances, if any. */
  readonly bus: StreamBus | undefined;
  private readonly restoring = new Map<string, Promise<ResumableStream | undefined>>();
  /** Per-stream `authorize` hooks, for the streams created here. */
  private readonly authorizers = new WeakMap<ResumableStream, StreamAuthorizer>();
  private readonly authorize: StreamAuthorizer | undefined;
  private closed = false;
  private warnedNotLocated = false;
  private warnedNotAdmitted = false;
  /** Requests `admit()` let in to a stream with `authorize`, for `observe(id, lastEventId, { request })`. */
  private readonly admitted = new WeakMap<object, StreamAdmission>();
  private readonly maxClients: number;
  private streamsCreated = 0;
  private clients = 0;
  private readonly metrics = new StreamMetrics();

  constructor(options: StreamRegistryOptions = {}) {
    const {
      maxStreams = DEFAULT_MAX_STREAMS,
      maxClients = DEFAULT_MAX_CLIENTS,
      logger = SILENT_LOGGER,
      store,
      bus,
      authorize,
      ...defaults
    } = options;
    if (authorize !== undefined && typeof authorize !== 'function') {
      throw new InvalidStreamInputError('Option authorize must be a function (request, stream) => boolean.');
    }
    this.authorize = authorize;
    for (const [name, value] of Object.entries({ maxStreams, maxClients })) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new InvalidStreamInputError(`Option ${name} must be a whole number >= 1, got ${String(value)}.`);
      }
    }
    this.maxClients = maxClients;
    resolveStreamOptions(defaults);
    this.defaults = defaults;
    this.maxStreams = maxStreams;
    this.logger = logger;
    this.store = store;
    this.bus = bus;
    this.hooks = {
      logger,
      store,
      bus,
      onFinish: (stream) => this.scheduleRemoval(stream),
      onAppend: (bytes) => this.metrics.event(bytes),
      onAttach: (tier) => {
        this.clients++;
        this.metrics.attached(tier);
      },
      assertClientCapacity: () => {
        if (this.clients >= this.maxClients) throw new StreamLimitError('maxClients', this.maxClients, 'This instance');
      },
      onClientEnd: (stream: ResumableStream, reason: ClientEndReason) => {
        this.clients--;
        if (reason !== 'slow') return;
        this.metrics.slowClientDisconnects++;
        logger.warn(
          `Stream ${stream.id}: cut a client that is not keeping up (more than ${stream.options.maxClientBacklogBytes} bytes of events missed while its connection was backed up, or its next event no longer buffered). It resumes with Last-Event-ID when it reconnects.`,
        );
      },
    };
  }

  /**
   * Creates and starts a stream. `producer` is a work function `async ({ signal, send }) => {}`,
   * an Observable or an AsyncIterable; without one, call `send()` and `complete()` yourself.
   * @throws StreamAlreadyExistsError (409) for a taken id, StreamLimitError (503) past maxStreams.
   */
  create<T = unknown>(producer?: StreamProducer<T>, options: CreateStreamOptions = {}): ResumableStream {
    if (this.closed) throw new RegistryClosedError();
    const { id: givenId, authorize, ...streamOptions } = options;
    if (authorize !== undefined && typeof authorize !== 'function') {
      throw new InvalidStreamInputError('Option authorize must be a function (request, stream) => boolean.');
    }
    if (givenId !== undefined && (typeof givenId !== 'string' || !STREAM_ID_PATTERN.test(givenId))) {
      throw new InvalidStreamInputError('A stream id must be 1 to 128 characters of A-Z, a-z, 0-9, "_" and "-".');
    }
    const id = givenId ?? randomBytes(16).toString('base64url');
    if (this.streams.has(id)) throw new StreamAlreadyExistsError(id);
    if (this.streams.size >= this.maxStreams) {
      throw new StreamLimitError('maxStreams', this.maxStreams, 'The registry');
    }
    const resolved: ResolvedStreamOptions = resolveStreamOptions(this.defaults, streamOptions);
    const stream = new ResumableStream(id, resolved, this.hooks);
    if (authorize) this.authorizers.set(stream, authorize);
    this.streams.set(id, stream);
    this.streamsCreated++;
    stream.start(producer as StreamProducer | undefined);
    return stream;
  }

  /**
   * The stream with this id from memory or, with a store, brought back from it (a finished stream
   * after its retention, or any stream after a restart), or undefined. Use it where you can wait,
   * e.g. in a guard, before the synchronous `observe()`.
   */
  async locate(id: string, lastEventId?: string | null): Promise<ResumableStream | undefined> {
    const ready = this.locateInMemory(id, lastEventId);
    if (ready) return ready;
    let stream = this.streams.get(id);
    if (!stream && (this.store || this.bus) && STREAM_ID_PATTERN.test(id)) {
      let pending = this.restoring.get(id);
      if (!pending) {
        pending = this.bringBack(id).finally(() => this.restoring.delete(id));
        this.restoring.set(id, pending);
      }
      stream = await pending;
    }
    if (stream?.follower && lastEventId) await this.catchUpWith(stream, lastEventId);
    return stream;
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
    const held = this.locateInMemory(id, lastEventId);
    if (held && !this.hasAuthorization(held)) return { stream: held, point: held.admit(lastEventId) };
    return this.admitLater(id, lastEventId, request);
  }

  private async admitLater(id: string, lastEventId: string | undefined, request: object): Promise<StreamAdmission> {
    const stream = await this.locate(id, lastEventId);
    // A refusal looks exactly like an unknown stream, so ids cannot be probed.
    if (!stream || !(await this.isAuthorized(request, stream))) throw new StreamNotFoundError(id);
    const admission = { stream, point: stream.admit(lastEventId) };
    if (this.hasAuthorization(stream)) this.admitted.set(request, admission);
    return admission;
  }

  /**
   * Whether `request` may subscribe to `stream`: the registry's `authorize` and the stream's own
   * (where it was created) must both answer exactly `true`, so a hook that returns a truthy
   * object by mistake lets nobody in. Without hooks, anyone with the id may.
   */
  async isAuthorized(request: unknown, stream: ResumableStream): Promise<boolean> {
    if (!this.hasAuthorization(stream)) return true;
    const own = this.authorizers.get(stream);
    if (this.authorize && (await this.authorize(request, stream)) !== true) return false;
    return !own || (await own(request, stream)) === true;
  }

  /** Whether an `authorize` hook (the registry's or the stream's own) decides who may subscribe. */
  hasAuthorization(stream: ResumableStream): boolean {
    return this.authorize !== undefined || this.authorizers.has(stream);
  }

  /**
   * What `locate()` resolves to without waiting, or undefined when it would have to wait: the
   * stream is held here, and it is produced here or `lastEventId` needs no waiting for the bus.
   */
  locateInMemory(id: string, lastEventId?: string | null): ResumableStream | undefined {
    const stream = this.streams.get(id);
    return stream && !(stream.follower && lastEventId) ? stream : undefined;
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
    const admitted = request && this.admitted.get(request);
    if (request) this.admitted.delete(request);
    if (admitted?.stream.id === id) return admitted.stream.observe(admitted.point, observeOptions);
    const stream = this.streams.get(id);
    if (!stream) {
      this.warnNotLocated(id);
      throw new StreamNotFoundError(id);
    }
    // Secure by default: with authorize, only a request StreamGuard let in may subscribe.
    if (this.hasAuthorization(stream)) {
      this.warnNotAdmitted(id);
      throw new StreamNotFoundError(id);
    }
    return stream.observe(lastEventId, observeOptions);
  }

  /** Cancels a stream (final `cancelled` event). @throws StreamNotFoundError (404). */
  cancel(id: string, reason?: string): boolean {
    return this.require(id).cancel(reason);
  }

  /** Cancels the stream if it still runs, ends its clients and forgets it. */
  remove(id: string): boolean {
    const stream = this.streams.get(id);
    if (!stream) return false;
    // A follower is only a local copy: let go of it; the stream goes on where it is produced.
    if (!stream.follower) stream.cancel('removed');
    stream.disconnectAll('unsubscribed');
    stream.dispose();
    clearTimeout(this.retentionTimers.get(id));
    this.retentionTimers.delete(id);
    return this.streams.delete(id);
  }

  /** Figures for monitoring: streams, clients, buffers, rates, and counters since start. Cheap to call. */
  stats(): StreamRegistryStats {
    const byState: Record<StreamState, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    let clients = 0;
    let bufferedEvents = 0;
    let bufferedBytes = 0;
    for (const stream of this.streams.values()) {
      byState[stream.state]++;
      clients += stream.clientCount;
      const buffered = stream.buffered;
      bufferedEvents += buffered.events;
      bufferedBytes += buffered.bytes;
    }
    const { metrics } = this;
    return {
      streams: this.streams.size,
      byState,
      clients,
      bufferedEvents,
      bufferedBytes,
      streamsCreated: this.streamsCreated,
      slowClientDisconnects: metrics.slowClientDisconnects,
      eventsTotal: metrics.eventsTotal,
      bytesTotal: metrics.bytesTotal,
      ...metrics.rates(),
      clientsAttached: metrics.clientsAttached,
      catchup: { ...metrics.catchup },
      located: { ...metrics.located },
    };
  }

  /**
   * Stops accepting streams, cancels running ones (clients get the final `cancelled` event with
   * reason `shutdown`), waits up to `graceMs` for clients to leave, then cuts the rest.
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const running = [...this.streams.values()].filter((stream) => !stream.isFinished && !stream.follower);
    if (running.length > 0) this.logger.log(`Shutting down: cancelling ${running.length} running stream(s).`);
    for (const stream of running) stream.cancel('shutdown');
    // Clients of streams produced elsewhere would wait here for nothing: they reconnect at once
    // to another instance, which serves them from the bus (or the store) without a gap.
    for (const stream of this.streams.values())
      if (stream.follower && !stream.isFinished) stream.disconnectAll('shutdown');
    const deadline = Date.now() + graceMs;
    const flushed = this.store ? this.flushAll(deadline) : Promise.resolve();
    while (this.stats().clients > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await flushed;
    for (const stream of this.streams.values()) {
      stream.disconnectAll('shutdown');
      stream.dispose();
    }
    await this.bus?.shutdown();
    for (const timer of this.retentionTimers.values()) clearTimeout(timer);
    this.retentionTimers.clear();
  }

  /**
   * Once: a stream missing from memory might have been in the store or on the bus, which only
   * `locate()` looks in; `StreamGuard` calls it, so the route likely lacks the guard. Once, as
   * clients can ask for any id.
   */
  private warnNotLocated(id: string): void {
    if (this.warnedNotLocated || !(this.store || this.bus)) return;
    this.warnedNotLocated = true;
    this.logger.warn(
      `observe(${JSON.stringify(id.slice(0, 80))}): no such stream in memory, and observe() does not look in the store or on the bus. ` +
        'Put @UseGuards(StreamGuard) on the @Sse() route (or use @ResumableSse()), or await registry.locate(id) first.',
    );
  }

  /** Once: `observe()` of a stream with `authorize` for a request that `admit()` did not let in. */
  private warnNotAdmitted(id: string): void {
    if (this.warnedNotAdmitted) return;
    this.warnedNotAdmitted = true;
    this.logger.warn(
      `observe(${JSON.stringify(id.slice(0, 80))}): refused (404), as authorize is configured and this request was not let in by StreamGuard. ` +
        'Use @ResumableSse(), or put @UseGuards(StreamGuard) on the route and pass { request } to observe().',
    );
  }

  /** Writes what each stream has not stored yet, giving up at the deadline (it is logged). */
  private async flushAll(deadline: number): Promise<void> {
    const writes = [...this.streams.values()]
      // Only what is produced here is written here; restored and followed streams are read-only.
      .filter((stream) => stream.producedHere && stream.persistedThrough < stream.lastSequence)
      .map((stream) =>
        stream.persist().catch((error: unknown) => {
          this.logger.error(`Stream ${stream.id}: final write to the store failed at shutdown. ${String(error)}`);
        }),
      );
    if (writes.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    await Promise.race([Promise.all(writes), timeout]);
    clearTimeout(timer);
  }

  /** From the bus (produced on another instance), else from the store. */
  private async bringBack(id: string): Promise<ResumableStream | undefined> {
    if (this.streams.size >= this.maxStreams) throw new StreamLimitError('maxStreams', this.maxStreams, 'The registry');
    return (this.bus && (await this.followFromBus(this.bus, id))) ?? (this.store && (await this.restore(id)));
  }

  private async followFromBus(bus: StreamBus, id: string): Promise<ResumableStream | undefined> {
    const info = await bus.lookup(id);
    if (!info || this.closed) return undefined;
    const [first] = await bus.read(id, 0, 1);
    const startAfter = first ? first.sequence - 1 : info.persistedThrough;
    const origin = {
      kind: 'follower' as const,
      epoch: info.epoch,
      startAfter,
      persistedThrough: info.persistedThrough,
    };
    const options = resolveStreamOptions(this.defaults);
    const stream = new ResumableStream(id, options, this.hooks, origin);
    // Filled with what the bus holds before anyone attaches, then fed live; pages bounded in bytes.
    const pageEvents = eventsPerBusRead(options);
    for (let after = startAfter; !stream.isFinished;) {
      const page = await bus.read(id, after, pageEvents);
      page.forEach((event) => stream.ingest(event));
      if (page.length < pageEvents) break;
      after = page.at(-1)!.sequence;
    }
    const existing = this.streams.get(id);
    if (existing) return existing;
    this.streams.set(id, stream);
    this.metrics.located.bus++;
    if (!stream.isFinished) stream.followBus(bus);
    return stream;
  }

  /**
   * A client may come from the producing instance with an id the bus has not delivered here
   * yet (it is in flight): wait for it briefly rather than answer "ahead of the stream".
   */
  private async catchUpWith(stream: ResumableStream, lastEventId: string): Promise<void> {
    let wanted: number;
    try {
      const position = parseEventId(lastEventId);
      // Another epoch is a reset, not an id in flight; a malformed id is the guard's 400.
      if (position.epoch !== stream.epoch) return;
      wanted = position.sequence;
    } catch {
      return;
    }
    const deadline = Date.now() + 2_000;
    while (stream.lastSequence < wanted && !stream.isFinished && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async restore(id: string): Promise<ResumableStream | undefined> {
    const meta = await this.store!.loadMeta(id);
    const existing = this.streams.get(id);
    if (existing || !meta || this.closed) return existing;
    const restored = {
      epoch: meta.epoch,
      lastSequence: meta.lastSequence,
      state: meta.status,
      finishedAt: meta.finishedAt?.getTime(),
    };
    const stream = new ResumableStream(id, resolveStreamOptions(this.defaults), this.hooks, restored);
    this.streams.set(id, stream);
    this.metrics.located.store++;
    // Served from the store alone; kept for the retention like any finished stream.
    if (!this.retentionTimers.has(id)) this.scheduleRemoval(stream);
    return stream;
  }

  /**
   * Forgets a finished stream after its retention, but never while its writes are still retried,
   * and not while clients still attached here keep catching up: removing it would cut them in the
   * middle of their replay. Clients that stopped moving for a whole check are cut (they resume
   * from the store, if any, when they reconnect).
   */
  private scheduleRemoval(stream: ResumableStream, delayMs = stream.options.retentionMs, lastProgress?: string): void {
    const timer = setTimeout(() => {
      this.retentionTimers.delete(stream.id);
      if (this.streams.get(stream.id) !== stream) return;
      if (this.store && !stream.follower && stream.persistedThrough < stream.lastSequence) {
        this.scheduleRemoval(stream, RETENTION_RECHECK_MS);
        return;
      }
      const progress = stream.clientProgress;
      if (progress !== '' && progress !== lastProgress) {
        this.scheduleRemoval(stream, RETENTION_RECHECK_MS, progress);
        return;
      }
      this.remove(stream.id);
    }, delayMs);
    timer.unref();
    this.retentionTimers.set(stream.id, timer);
  }
}
