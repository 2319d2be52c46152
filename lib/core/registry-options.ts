import type { EventStore } from './event-store.js';
import type { StreamLogger } from './logger.js';
import type { CatchupFunction, StreamOptions } from './options.js';
import type { StreamMetadata } from './stream-descriptor.js';
import type { AdmittedPoint } from './resume.js';
import type { StreamBus } from './stream-bus.js';
import type { CatchupTier, LocateSource, ResumeCount } from './stream-metrics.js';
import type { StreamState } from './stream-event.js';
import type { ResumableStream } from './stream.js';
import type { StreamFinishedHook } from './stream-turn.js';

/** Options of a registry: limits, plus the defaults of every stream it creates. */
export interface StreamRegistryOptions extends StreamOptions {
  /** Most streams held at once (running and retained). Default 10000. */
  readonly maxStreams?: number;
  /** Most clients connected at once, all streams of this instance together. Default 50000. */
  readonly maxClients?: number;
  /**
   * With a store: most bytes of event data sent and not yet stored, all streams of this instance
   * together. Past it every producer is slowed; past twice it a stream that sends more fails
   * (see `maxUnstoredBytes`, docs/durability.md). Default 256 MiB.
   */
  readonly maxUnstoredBytesTotal?: number;
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
  /**
   * How long this instance keeps following a stream produced elsewhere once none of its clients
   * reads it, in ms; then it lets go (and frees its share of the bus). Default 10000.
   */
  readonly followIdleMs?: number;
  /**
   * Called once for every stream produced by this instance, after it ended and its producer
   * returned: `{ stream, state, error, result }` (meridian-stream-go's `WithOnComplete` and
   * `WithOnError` in one). A hook that throws is logged.
   */
  readonly onStreamFinished?: StreamFinishedHook;
  /**
   * Catch-up functions by name, for `create(..., { catchup: 'name' })`: a name travels with the
   * stream, so every instance that registers the same name uses it for the stream, and so does
   * this one after a restart. A function given directly stays with the producing instance.
   */
  readonly catchups?: Readonly<Record<string, CatchupFunction>>;
  /** Authorize hooks by name, for `create(..., { authorize: 'name' })`; see `catchups`. */
  readonly authorizers?: Readonly<Record<string, StreamAuthorizer>>;
  /**
   * Metadata fields that find a running stream with `findActive({ field: value })`, on any
   * instance (e.g. `['chatId']`). Their values must be strings. Default: none.
   */
  readonly activeKeys?: readonly string[];
  /**
   * Store retention: how long the store keeps a finished stream, in ms, counted from its finish;
   * then a periodic purge deletes its metadata and events (and this registry lets go of its
   * copy). Streams interrupted (stored as running, not written for this long, and running neither
   * here nor, per the bus, elsewhere) go too. Needs a store with `purgeFinished()` (the TypeORM
   * store has it, with the retention indexes migration). Default: off, the store keeps everything.
   */
  readonly storeRetentionMs?: number;
  /** How often the store retention purge runs, in ms. Default: `storeRetentionMs`, at most 60000. */
  readonly storePurgeEveryMs?: number;
}

/** Options of `StreamRegistry.shutdown()`. */
export interface RegistryShutdownOptions {
  /** How long to wait for clients to leave once their streams ended, in ms; then they are cut. Default 5000. */
  readonly graceMs?: number;
  /**
   * How long running producers may go on, in ms, before what is left is cancelled. Meant for a
   * bus: this instance's clients are let go at once and resume on another instance. Default 0.
   */
  readonly drainMs?: number;
}

/** Options of `create()`: a stream's own options, and optionally its id and metadata. */
export interface CreateStreamOptions extends Omit<StreamOptions, 'catchup'> {
  /** Use this id instead of a generated one: 1 to 128 of `A-Z a-z 0-9 _ -`. */
  readonly id?: string;
  /**
   * Who may subscribe, checked by `StreamGuard` with the request (after your own auth guards
   * ran, so `request.user` is set). A refusal is answered 404, exactly like an unknown stream.
   * A function lives in this process's memory with the stream: on an instance that only follows
   * the stream, or after a restart, only the module-wide `authorize` applies. A name registered
   * in the registry's `authorizers` travels with the stream and applies everywhere (an instance
   * that does not know the name refuses every client).
   */
  readonly authorize?: StreamAuthorizer | string;
  /** Like the registry's `onStreamFinished`, for this stream only; called before that one. */
  readonly onFinished?: StreamFinishedHook;
  /**
   * A catch-up function, or the name of one registered in the registry's `catchups` (only a name
   * travels to other instances and through a restart). See {@link StreamOptions.catchup}.
   */
  readonly catchup?: CatchupFunction | string;
  /**
   * What the stream is about (`{ chatId, userId }`): a plain JSON object of at most 4 KiB,
   * stored with the stream (store and bus) and read as `stream.metadata` on every instance, by
   * `authorize` and by handlers, and after a restart.
   * @throws StreamMetadataError (400; 413 over 4 KiB) from `create()`.
   */
  readonly metadata?: StreamMetadata;
}

/** A client let in: the stream it asked for and where it continues. What `admit()` resolves to. */
export interface StreamAdmission {
  /** The stream, in memory now (from here, the store or another instance). */
  readonly stream: ResumableStream;
  /** Where the client continues, and how it was resumed; hand it to `stream.observe()` or `stream.attach()`. */
  readonly point: AdmittedPoint;
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
  /** Bytes held for the events in replay buffers: their frames, chunked, and their index (see `bufferMaxBytes`). */
  bufferedBytes: number;
  /** Bytes of event data sent and not yet stored, all streams (0 without a store). */
  unstoredBytes: number;
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
  /**
   * Clients connected since start by how they were resumed (the `Meridian-Resume` header), and
   * `fully_delivered`: requests answered 204, as they already had the final event.
   */
  resumes: Record<ResumeCount, number>;
  /** Events written to clients since start (every client counts, catch-up included). */
  clientEventsSent: number;
  /** Bytes of data of the events written to clients since start. */
  clientBytesSent: number;
  /** Events of streams produced here that the store does not hold yet (0 without a store). */
  unstoredEvents: number;
}

/** Default of {@link StreamRegistryOptions.maxClients}. */
export const DEFAULT_MAX_CLIENTS = 50_000;

/** Default of {@link StreamRegistryOptions.maxStreams}. */
export const DEFAULT_MAX_STREAMS = 10_000;

/** Default `followIdleMs`. */
export const DEFAULT_FOLLOW_IDLE_MS = 10_000;

/** Stream ids: 1 to 128 of `A-Z a-z 0-9 _ -`. */
export const STREAM_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
