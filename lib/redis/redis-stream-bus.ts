import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { StreamAlreadyExistsError } from '../core/errors.js';
import { SILENT_LOGGER, type StreamLogger } from '../core/logger.js';
import type { BusEvent, BusFollower, BusStreamInfo, StreamBus } from '../core/stream-bus.js';
import type { StreamEvent, StreamState } from '../core/stream-event.js';
import { CLAIM, DECLARE_LOST, toBusEvent } from './redis-scripts.js';

/** Options of {@link RedisStreamBus}. */
export interface RedisStreamBusOptions {
  /** A `redis://` URL, ioredis options, or a client of your own (the bus does not close it). */
  readonly connection: string | RedisOptions | Redis;
  /** Prefix of every key. Default `meridian:`. */
  readonly keyPrefix?: string;
  /** How long a producer's lease lasts without renewal, in ms. Default 10000. */
  readonly leaseMs?: number;
  /** Events kept in Redis per stream: capped when nothing stores them, trimmed to it once stored. Default 10000. */
  readonly maxLength?: number;
  /** How long one blocking read waits before looking at the producer's lease, in ms. Default 2000. */
  readonly blockMs?: number;
  /** Where the bus logs Redis errors and retries (a NestJS Logger fits). Default: nothing is logged. */
  readonly logger?: StreamLogger;
}

interface Owned {
  readonly epoch: string;
  readonly stored: boolean;
  persistedThrough: number;
  lease?: NodeJS.Timeout;
}

type XReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/**
 * Streams shared across instances through Redis: each stream's events are a Redis Stream (entry
 * ids are our sequences, so Redis itself refuses a duplicate or out-of-order append), its
 * metadata a hash, its producer's liveness a lease key; all three hash-tagged by stream id, so
 * Redis Cluster keeps them together. Each instance reads a stream once, however many of its
 * clients follow it.
 */
export class RedisStreamBus implements StreamBus {
  /** This instance's random id: the owner written in a stream's metadata and lease. */
  readonly instanceId = randomBytes(6).toString('hex');
  private readonly redis: Redis;
  private readonly ownsConnection: boolean;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly maxLength: number;
  private readonly blockMs: number;
  private readonly logger: StreamLogger;
  private readonly owned = new Map<string, Owned>();
  private readonly followers = new Set<() => void>();
  private closed = false;

  constructor(options: RedisStreamBusOptions) {
    const { connection } = options;
    this.ownsConnection = !(connection instanceof Redis);
    this.redis =
      connection instanceof Redis
        ? connection
        : typeof connection === 'string'
          ? new Redis(connection, { maxRetriesPerRequest: null })
          : new Redis({ maxRetriesPerRequest: null, ...connection });
    this.prefix = options.keyPrefix ?? 'meridian:';
    this.leaseMs = options.leaseMs ?? 10_000;
    this.maxLength = options.maxLength ?? 10_000;
    this.blockMs = options.blockMs ?? Math.min(2_000, Math.max(50, Math.floor(this.leaseMs / 3)));
    this.logger = options.logger ?? SILENT_LOGGER;
    this.redis.on('error', (error: Error) => this.logger.warn(`Redis: ${error.message}`));
    // After a reconnect (maybe to a Redis that lost its data) say again what this instance owns.
    this.redis.on('ready', () =>
      this.owned.forEach((owned, id) =>
        this.assertOwnership(id, owned).then((held) => {
          if (!held) this.logger.warn(`Stream ${id}: another stream took its id in Redis while it was away.`);
        }),
      ),
    );
  }

  /** Fails, with a message that says what to check, when Redis does not answer within 5 s. */
  async check(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              'Redis did not answer PING within 5 s: check the connection (URL, host, port) given to RedisStreamBus.',
            ),
          ),
        5_000,
      );
    });
    try {
      await Promise.race([this.redis.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Claims the id atomically: refused (StreamAlreadyExistsError) while Redis holds the metadata
   * of another stream (another epoch) under it, running or in its retention; nothing of that
   * stream changes. The lease is renewed only once the claim succeeded.
   */
  async open(streamId: string, epoch: string, stored: boolean): Promise<void> {
    const held = this.owned.get(streamId);
    if (held && held.epoch !== epoch) throw new StreamAlreadyExistsError(streamId);
    const owned: Owned = held ?? { epoch, stored, persistedThrough: 0 };
    this.owned.set(streamId, owned);
    if (!(await this.assertOwnership(streamId, owned))) {
      if (this.owned.get(streamId) === owned) this.owned.delete(streamId);
      throw new StreamAlreadyExistsError(streamId);
    }
    if (this.owned.get(streamId) !== owned || owned.lease) return;
    owned.lease = setInterval(() => this.renewLease(streamId), Math.max(20, Math.floor(this.leaseMs / 3)));
    owned.lease.unref();
  }

  publish(streamId: string, event: StreamEvent, final?: StreamState): void {
    const keys = this.keys(streamId);
    const cap = this.owned.get(streamId)?.stored ? [] : ['MAXLEN', '~', String(this.maxLength)];
    const fields = ['t', event.type, 'd', event.data, ...(final ? ['f', final] : [])];
    this.redis
      .xadd(keys.events, ...cap, `${event.sequence}-0`, ...fields)
      .catch((error: Error) =>
        this.logger.error(`Stream ${streamId}: publishing event ${event.sequence} failed: ${error.message}`),
      );
    if (final) void this.redis.hset(keys.meta, 'status', final).catch(() => undefined);
  }

  persisted(streamId: string, throughSequence: number): void {
    const owned = this.owned.get(streamId);
    if (owned) owned.persistedThrough = Math.max(owned.persistedThrough, throughSequence);
    const keys = this.keys(streamId);
    // Only after the store's commit: drop what is stored, keeping the most recent maxLength.
    const keepFrom = Math.max(1, throughSequence - this.maxLength + 1);
    this.redis
      .multi()
      .hset(keys.meta, 'persistedThrough', String(throughSequence))
      .xtrim(keys.events, 'MINID', `${keepFrom}-0`)
      .exec()
      .catch((error: Error) => this.logger.warn(`Stream ${streamId}: trimming Redis failed: ${error.message}`));
  }

  close(streamId: string, retentionMs: number): void {
    const owned = this.owned.get(streamId);
    clearInterval(owned?.lease);
    this.owned.delete(streamId);
    const keys = this.keys(streamId);
    this.redis
      .multi()
      .del(keys.lease)
      .pexpire(keys.events, retentionMs)
      .pexpire(keys.meta, retentionMs)
      .exec()
      .catch(() => undefined);
  }

  async lookup(streamId: string): Promise<BusStreamInfo | undefined> {
    const meta = await this.redis.hgetall(this.keys(streamId).meta);
    if (!meta.epoch) return undefined;
    return {
      streamId,
      epoch: meta.epoch,
      status: (meta.status ?? 'running') as StreamState,
      persistedThrough: Number(meta.persistedThrough ?? 0),
    };
  }

  async read(streamId: string, afterSequence: number, limit: number): Promise<BusEvent[]> {
    const entries = await this.redis.xrange(this.keys(streamId).events, `(${afterSequence}-0`, '+', 'COUNT', limit);
    return entries.map(([id, fields]) => toBusEvent(id, fields));
  }

  follow(streamId: string, afterSequence: number, follower: BusFollower, lostEvent: () => BusEvent): () => void {
    const connection = this.redis.duplicate();
    connection.on('error', () => undefined);
    let stopped = false;
    const stop = () => {
      // Once only: ioredis leaves a timer behind when disconnect() runs twice.
      if (stopped) return;
      stopped = true;
      this.followers.delete(stop);
      connection.disconnect();
    };
    this.followers.add(stop);
    const keys = this.keys(streamId);
    // A reply's data is held until delivered: the follower bounds how many events it may hold.
    const batchEvents = Math.max(1, follower.batchEvents ?? 500);
    void (async () => {
      let last = afterSequence;
      let leaseMissingSince: number | undefined;
      while (!stopped) {
        try {
          const reply = (await connection.xread(
            'COUNT',
            batchEvents,
            'BLOCK',
            this.blockMs,
            'STREAMS',
            keys.events,
            `${last}-0`,
          )) as XReadReply;
          if (stopped) return;
          if (!reply) {
            // Nothing for a while: how far is it stored, and is the producer still there?
            await this.reportStored(keys.meta, follower);
            if ((await this.redis.exists(keys.lease)) === 1) {
              leaseMissingSince = undefined;
            } else if (leaseMissingSince === undefined) {
              leaseMissingSince = Date.now();
            } else if (Date.now() - leaseMissingSince >= Math.min(this.leaseMs / 3, this.blockMs)) {
              // Missing on two looks one blocking read apart: a producer that reconnects after a
              // Redis restart has asserted its lease again by then.
              await this.declareLost(keys, lostEvent(), follower.retentionMs ?? 300_000);
            }
            continue;
          }
          for (const [id, fields] of reply[0][1]) {
            const event = toBusEvent(id, fields);
            if (event.sequence > last + 1) {
              // Redis lost events: the store may have them, if the producer stored them.
              await this.reportStored(keys.meta, follower);
              follower.gap(last, event.sequence);
            }
            last = event.sequence;
            follower.event(event);
            if (event.final) return stop();
          }
        } catch (error) {
          if (stopped) return;
          this.logger.warn(`Stream ${streamId}: reading from Redis failed (${(error as Error).message}); retrying.`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    })();
    return stop;
  }

  async shutdown(): Promise<void> {
    // Once only: closing a closed ioredis client leaves a timer behind.
    if (this.closed) return;
    this.closed = true;
    for (const [id, owned] of this.owned) {
      clearInterval(owned.lease);
      this.owned.delete(id);
    }
    for (const stop of [...this.followers]) stop();
    if (this.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private keys(streamId: string) {
    const base = `${this.prefix}{${streamId}}`;
    return { events: `${base}:events`, meta: `${base}:meta`, lease: `${base}:lease` };
  }

  /**
   * Writes the stream's metadata and lease unless the id holds another stream's metadata; the
   * owner saying it again (after a reconnect) keeps its stream. False when refused; a Redis
   * failure is logged and counts as held (the next 'ready' says it again).
   */
  private assertOwnership(streamId: string, owned: Owned): Promise<boolean> {
    const keys = this.keys(streamId);
    return this.redis
      .eval(
        CLAIM,
        2,
        keys.meta,
        keys.lease,
        owned.epoch,
        this.instanceId,
        String(owned.persistedThrough),
        String(this.leaseMs),
      )
      .then(
        (claimed) => claimed === 1,
        (error: Error) => {
          this.logger.warn(`Stream ${streamId}: announcing it in Redis failed: ${error.message}`);
          return true;
        },
      );
  }

  private renewLease(streamId: string): void {
    void this.redis.set(this.keys(streamId).lease, this.instanceId, 'PX', this.leaseMs).catch(() => undefined);
  }

  /** Appends the final event for a producer that is gone; exactly once, whoever notices first. */
  private async declareLost(
    keys: { events: string; meta: string; lease: string },
    event: BusEvent,
    retentionMs: number,
  ): Promise<void> {
    try {
      // The lease check and the append in one atomic script: a producer that renewed its lease
      // in between is never declared lost.
      const appended = await this.redis.eval(
        DECLARE_LOST,
        3,
        keys.lease,
        keys.events,
        keys.meta,
        `${event.sequence}-0`,
        event.type,
        event.data,
        event.final!,
        String(retentionMs),
      );
      if (appended)
        this.logger.warn(
          `Stream behind ${keys.events}: its producer's lease ran out; ended it with a final error event.`,
        );
    } catch {
      // Another instance was first, or the producer got its event in: either way it will be read.
    }
  }

  private async reportStored(metaKey: string, follower: BusFollower): Promise<void> {
    const stored = await this.redis.hget(metaKey, 'persistedThrough');
    if (stored !== null) follower.stored?.(Number(stored));
  }
}
