import { randomBytes } from 'node:crypto';
import { StreamAlreadyExistsError } from '../core/errors.js';
import { SILENT_LOGGER, type StreamLogger } from '../core/logger.js';
import type {
  AppendOutcome,
  BusEvent,
  BusFollower,
  BusOpenOptions,
  BusStreamInfo,
  ControlMessage,
  StreamBus,
} from '../core/stream-bus.js';
import type { StreamState } from '../core/stream-event.js';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { RedisConnections, retrying } from './redis-connections.js';
import { ControlRequests, controlListener } from './redis-control.js';
import { RedisFollowers } from './redis-followers.js';
import { replyChannel, streamKeys } from './redis-keys.js';
import { InstanceLease } from './redis-liveness.js';
import { ActiveIndex } from './redis-active.js';
import { deleteStreamKeys } from './redis-delete.js';
import { parseDescriptor } from '../core/stream-descriptor.js';
import { APPEND, CLAIM, PERSISTED, ScriptRunner, toBusEvent } from './redis-scripts.js';
import { ChannelSubscriptions } from './redis-subscriptions.js';

/** Options of {@link RedisStreamBus}. */
export interface RedisStreamBusOptions {
  /**
   * A `redis://` URL, ioredis options, or a client of your own: a `Redis` or a `Cluster` (the bus
   * does not close it, and makes its subscriber connection from it).
   */
  readonly connection: string | RedisOptions | Redis | Cluster;
  /** Prefix of every key. Default `meridian:`. */
  readonly keyPrefix?: string;
  /** How long an instance's lease lasts without renewal, in ms (renewed every third of it). Default 10000. */
  readonly leaseMs?: number;
  /** Events kept in Redis per stream: capped when nothing stores them, trimmed to it once stored. Default 10000. */
  readonly maxLength?: number;
  /** @deprecated Ignored: followers no longer poll Redis (they subscribe to the stream's shard channel). */
  readonly blockMs?: number;
  /** Where the bus logs Redis errors and retries (a NestJS Logger fits). Default: nothing is logged. */
  readonly logger?: StreamLogger;
}

/** A stream produced here. */
interface Owned {
  readonly epoch: string;
  readonly options: BusOpenOptions;
  /** The fencing token this instance holds (0 until claimed). */
  fence: number;
  lastAccepted: number;
  persistedThrough: number;
  /** The TTL of its keys while it runs, in ms. */
  readonly runningTtlMs: number;
  /** When this instance last set that TTL (an append does it for free). */
  touchedAt: number;
  /** When this instance last set the TTL of its active index keys (appends do not). */
  indexedAt: number;
  onControl?: (message: string) => void;
}

/**
 * Streams shared across instances through Redis. Each stream's events are a Redis Stream (entry
 * ids are its sequences) beside a metadata hash, each append one script call that checks the
 * appender still holds the stream (owner and fencing token) and publishes the events on the
 * stream's shard channel. Followers on every instance share one subscriber connection and read
 * from the Redis Stream only what Pub/Sub could not give them. Liveness is one lease per instance;
 * every instance sweeps the streams of instances whose lease ran out. Keys, channels and scripts
 * of one stream share the hash tag `{id}`, so it works on Redis Cluster too.
 */
export class RedisStreamBus implements StreamBus {
  /** This instance's random id: the owner written in a stream's metadata, and its lease. */
  readonly instanceId = randomBytes(6).toString('hex');
  private readonly connections: RedisConnections;
  private readonly scripts: ScriptRunner;
  private readonly lease: InstanceLease;
  private readonly subscriptions: ChannelSubscriptions;
  private readonly followers: RedisFollowers;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly maxLength: number;
  private readonly logger: StreamLogger;
  private readonly owned = new Map<string, Owned>();
  private readonly active: ActiveIndex;
  private readonly requests: ControlRequests;
  private closed = false;

  constructor(options: RedisStreamBusOptions) {
    this.prefix = options.keyPrefix ?? 'meridian:';
    this.leaseMs = options.leaseMs ?? 10_000;
    this.maxLength = options.maxLength ?? 10_000;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.connections = new RedisConnections(options.connection, this.instanceId, this.logger);
    const commands = this.connections.commands;
    this.scripts = new ScriptRunner(commands);
    this.active = new ActiveIndex(this.prefix, commands, this.scripts, this.logger);
    this.lease = new InstanceLease({
      instanceId: this.instanceId,
      prefix: this.prefix,
      leaseMs: this.leaseMs,
      commands,
      scripts: this.scripts,
      logger: this.logger,
      onRenewed: () => this.refreshIdleStreams(),
    });
    this.subscriptions = new ChannelSubscriptions(this.connections, this.logger, () => this.followers.refillAll());
    this.followers = new RedisFollowers(this.prefix, commands, this.subscriptions, this.logger);
    this.requests = new ControlRequests(replyChannel(this.prefix, this.instanceId), this.subscriptions, this.logger);
    // After a reconnect (maybe to a Redis that lost its data): the lease first, then the streams.
    this.connections.listen(commands, 'ready', () => void this.reassert());
  }

  /** Fails, with a message that says what to check, when Redis does not answer within 5 s. */
  async check(): Promise<void> {
    await this.connections.ping(5_000);
  }

  /**
   * Claims the id atomically: refused (StreamAlreadyExistsError) while Redis holds the metadata
   * of another stream (another epoch) under it, running or in its retention; nothing of that
   * stream changes. The stream joins this instance's lease and listens to its control channel.
   */
  async open(streamId: string, epoch: string, options: BusOpenOptions): Promise<void> {
    const held = this.owned.get(streamId);
    if (held && held.epoch !== epoch) throw new StreamAlreadyExistsError(streamId);
    await this.lease.start();
    const owned: Owned = held ?? {
      epoch,
      options,
      fence: 0,
      lastAccepted: 0,
      persistedThrough: 0,
      runningTtlMs: Math.max(options.retentionMs, 10 * this.leaseMs),
      touchedAt: Date.now(),
      indexedAt: Date.now(),
    };
    this.owned.set(streamId, owned);
    const commands = this.connections.commands;
    // In the owned set before the claim: should this instance die right after, it is swept.
    await this.retry(`Stream ${streamId}: joining the lease`, () =>
      commands.multi().sadd(this.lease.ownedKey, streamId).pexpire(this.lease.ownedKey, this.lease.ttlMs).exec(),
    );
    if (!(await this.claim(streamId, owned))) {
      if (this.owned.get(streamId) === owned) this.owned.delete(streamId);
      await commands.srem(this.lease.ownedKey, streamId).catch(() => undefined);
      throw new StreamAlreadyExistsError(streamId);
    }
    await this.index(streamId, owned);
    if (options.onControl && !owned.onControl) {
      owned.onControl = controlListener(streamId, options.onControl, this.logger, {
        prefix: `${this.prefix}{i:`,
        publish: (channel, payload) => this.connections.commands.spublish(channel, payload),
      });
      await this.subscriptions.add(streamKeys(this.prefix, streamId).controlChannel, owned.onControl);
    }
  }

  async append(streamId: string, events: readonly BusEvent[]): Promise<AppendOutcome> {
    const owned = this.owned.get(streamId);
    if (!owned) throw new Error(`RedisStreamBus.append(${streamId}): the stream was not opened on this instance.`);
    if (events.length === 0) return { accepted: true };
    const keys = streamKeys(this.prefix, streamId);
    const { lostEvent, retentionMs, stored } = owned.options;
    const args: (string | number)[] = [
      this.instanceId,
      owned.fence,
      owned.epoch,
      owned.lastAccepted,
      owned.runningTtlMs,
      stored ? 0 : this.maxLength,
      lostEvent.type,
      lostEvent.data,
      retentionMs,
    ];
    for (const event of events) args.push(event.sequence, event.type, event.data, event.final ?? '');
    // Sent again after a lost reply, the script skips what it holds already: no duplicate.
    const reply = await this.retry(`Stream ${streamId}: appending`, () =>
      this.scripts.run<[number, [string, string[]][]?]>(APPEND, [keys.meta, keys.events, keys.eventsChannel], args),
    );
    if (reply[0] !== 1) return { accepted: false, ending: (reply[1] ?? []).map(([id, f]) => toBusEvent(id, f)) };
    owned.lastAccepted = events.at(-1)!.sequence;
    owned.touchedAt = Date.now();
    return { accepted: true };
  }

  persisted(streamId: string, throughSequence: number): void {
    const owned = this.owned.get(streamId);
    if (owned) owned.persistedThrough = Math.max(owned.persistedThrough, throughSequence);
    const keys = streamKeys(this.prefix, streamId);
    // Only after the store's commit: drop what is stored, keeping the most recent maxLength.
    const keepFrom = Math.max(1, throughSequence - this.maxLength + 1);
    this.scripts
      .run(PERSISTED, [keys.meta, keys.events, keys.eventsChannel], [throughSequence, keepFrom])
      .catch((error: Error) => this.logger.warn(`Stream ${streamId}: trimming Redis failed: ${error.message}`));
  }

  close(streamId: string, retentionMs: number): void {
    const owned = this.owned.get(streamId);
    this.owned.delete(streamId);
    const keys = streamKeys(this.prefix, streamId);
    if (owned?.onControl) this.subscriptions.remove(keys.controlChannel, owned.onControl);
    const commands = this.connections.commands;
    const failed = (error: Error) =>
      this.logger.warn(`Stream ${streamId}: closing it in Redis failed: ${error.message}`);
    commands.srem(this.lease.ownedKey, streamId).catch(failed);
    commands.multi().pexpire(keys.events, retentionMs).pexpire(keys.meta, retentionMs).exec().catch(failed);
    if (owned) void this.active.drop(streamId, owned.options.descriptor?.active ?? []);
  }

  /** Deletes the stream's keys and active entries now; it leaves this instance's lease if it was here. */
  async delete(streamId: string): Promise<boolean> {
    const owned = this.owned.get(streamId);
    this.owned.delete(streamId);
    if (owned?.onControl) this.subscriptions.remove(streamKeys(this.prefix, streamId).controlChannel, owned.onControl);
    const commands = this.connections.commands;
    if (owned) await commands.srem(this.lease.ownedKey, streamId);
    return deleteStreamKeys(commands, this.prefix, this.active, streamId);
  }

  async lookup(streamId: string): Promise<BusStreamInfo | undefined> {
    const meta = await this.connections.commands.hgetall(streamKeys(this.prefix, streamId).meta);
    if (!meta.epoch) return undefined;
    return {
      streamId,
      epoch: meta.epoch,
      status: (meta.status ?? 'running') as StreamState,
      persistedThrough: Number(meta.persistedThrough ?? 0),
      descriptor: parseDescriptor(meta.descriptor),
    };
  }

  async findActive(entry: string): Promise<string | undefined> {
    return this.active.find(entry);
  }

  async read(streamId: string, afterSequence: number, limit: number): Promise<BusEvent[]> {
    const events = streamKeys(this.prefix, streamId).events;
    const entries = await this.connections.commands.xrange(events, `(${afterSequence}-0`, '+', 'COUNT', limit);
    return entries.map(([id, fields]) => toBusEvent(id, fields));
  }

  follow(streamId: string, afterSequence: number, follower: BusFollower): () => void {
    // Lost producers are found by this instance's sweeps too: its followers do not wait on others'.
    void this.lease.start().catch(() => undefined);
    return this.followers.follow(streamId, afterSequence, follower);
  }

  /** Publishes on the stream's control channel; true when the producing instance listens to it. */
  async control(streamId: string, message: ControlMessage): Promise<boolean> {
    const channel = streamKeys(this.prefix, streamId).controlChannel;
    return Number(await this.connections.commands.spublish(channel, JSON.stringify(message))) > 0;
  }

  /**
   * Publishes the request on the stream's control channel and waits for the producer's answer on
   * this instance's reply channel; undefined when nobody listens or no answer came in time.
   */
  async request(streamId: string, message: ControlMessage, timeoutMs = 5_000): Promise<unknown> {
    const channel = streamKeys(this.prefix, streamId).controlChannel;
    return this.requests.request(message, timeoutMs, async (payload) =>
      Number(await this.connections.commands.spublish(channel, payload)),
    );
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.requests.stop();
    await this.lease.leave(this.owned.size > 0);
    this.followers.stopAll();
    this.owned.clear();
    await this.connections.close();
  }

  /**
   * Writes the stream's metadata unless the id holds another stream's; the owner saying it again
   * (after a reconnect) keeps its stream and its token. False when refused.
   */
  private async claim(streamId: string, owned: Owned): Promise<boolean> {
    const keys = streamKeys(this.prefix, streamId);
    const { lostEvent, retentionMs, stored } = owned.options;
    const reply = await this.retry(`Stream ${streamId}: claiming it`, () =>
      this.scripts.run<[number, number?]>(
        CLAIM,
        [keys.meta, keys.events],
        [
          owned.epoch,
          this.instanceId,
          owned.fence,
          owned.lastAccepted,
          owned.persistedThrough,
          owned.runningTtlMs,
          lostEvent.type,
          lostEvent.data,
          retentionMs,
          stored ? 1 : 0,
          owned.options.descriptor ? JSON.stringify(owned.options.descriptor) : '',
        ],
      ),
    );
    if (reply[0] !== 1) return false;
    owned.fence = reply[1]!;
    return true;
  }

  private async reassert(): Promise<void> {
    if (this.closed || this.owned.size === 0) return;
    this.lease.forgetSuspects();
    await this.lease.renew();
    await Promise.all(
      [...this.owned].map(async ([streamId, owned]) => {
        const commands = this.connections.commands;
        await commands
          .multi()
          .sadd(this.lease.ownedKey, streamId)
          .pexpire(this.lease.ownedKey, this.lease.ttlMs)
          .exec();
        if (await this.claim(streamId, owned)) await this.index(streamId, owned);
        else this.logger.warn(`Stream ${streamId}: another stream took its id in Redis while it was away.`);
      }),
    ).catch((error: Error) =>
      this.logger.warn(`Saying again which streams this instance holds failed: ${error.message}`),
    );
  }

  /** Streams with no append for half their TTL get it again (an append renews it for free). */
  private refreshIdleStreams(): void {
    const now = Date.now();
    const commands = this.connections.commands;
    for (const [streamId, owned] of this.owned) {
      if (now - owned.indexedAt >= owned.runningTtlMs / 2) {
        owned.indexedAt = now;
        this.active.refresh(streamId, owned.options.descriptor?.active ?? [], owned.runningTtlMs);
      }
      if (now - owned.touchedAt < owned.runningTtlMs / 2) continue;
      owned.touchedAt = now;
      const keys = streamKeys(this.prefix, streamId);
      // GT: never shortens a TTL (e.g. the retention of a stream another instance ended).
      commands
        .multi()
        .pexpire(keys.meta, owned.runningTtlMs, 'GT')
        .pexpire(keys.events, owned.runningTtlMs, 'GT')
        .exec()
        .catch((error: Error) => this.logger.warn(`Stream ${streamId}: refreshing its TTL failed: ${error.message}`));
    }
  }

  /** A claimed stream's active entries name it, for `findActive()` on every instance. */
  private async index(streamId: string, owned: Owned): Promise<void> {
    const entries = owned.options.descriptor?.active ?? [];
    if (entries.length === 0) return;
    owned.indexedAt = Date.now();
    await this.retry(`Stream ${streamId}: indexing it as active`, () =>
      this.active.set(streamId, entries, owned.runningTtlMs),
    );
  }

  private retry<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    return retrying(
      this.connections.commands,
      attempt,
      (error) => this.logger.warn(`${what} failed (${error.message}); retrying.`),
      () => this.closed,
    );
  }
}
