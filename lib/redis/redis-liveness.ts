import type { Cluster, Redis } from 'ioredis';
import type { StreamLogger } from '../core/logger.js';
import { indexKeys, streamKeys } from './redis-keys.js';
import { DECLARE_LOST, FORGET, RENEW, type ScriptRunner } from './redis-scripts.js';

/** What {@link InstanceLease} needs from its bus. */
export interface InstanceLeaseOptions {
  readonly instanceId: string;
  readonly prefix: string;
  readonly leaseMs: number;
  readonly commands: Redis | Cluster;
  readonly scripts: ScriptRunner;
  readonly logger: StreamLogger;
  /** Called after each renewal (the bus refreshes its idle streams' TTLs then). */
  readonly onRenewed: () => void;
}

/** Streams declared lost per round trip while sweeping: bounds what one sweep sends at once. */
const SWEEP_CHUNK = 200;

/**
 * One lease per instance, not per stream: an entry in a sorted set scored by its expiry (Redis'
 * clock), renewed every `leaseMs / 3` by one script call that also names the instances whose
 * lease ran out. Those are swept (their running streams ended with their lost event) once seen
 * expired on two renewals in a row, so an instance that was only cut from Redis for a moment
 * (or lost its entry in a Redis restart) has said it again by then.
 */
export class InstanceLease {
  private readonly keys: ReturnType<typeof indexKeys>;
  private readonly indexTtlMs: number;
  private readonly intervalMs: number;
  /** Instance -> when this one first saw its lease expired. */
  private readonly suspects = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private renewing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: InstanceLeaseOptions) {
    this.keys = indexKeys(options.prefix);
    this.intervalMs = Math.max(20, Math.floor(options.leaseMs / 3));
    this.indexTtlMs = Math.max(10 * options.leaseMs, 60_000);
  }

  /** The owned-streams set of this instance. */
  get ownedKey(): string {
    return this.keys.owned(this.options.instanceId);
  }

  /** How long the index keys live without a renewal, in ms. */
  get ttlMs(): number {
    return this.indexTtlMs;
  }

  /** Takes the lease (once) and starts renewing it; resolves after the first renewal. */
  start(): Promise<void> {
    this.started ??= (async () => {
      this.timer = setInterval(() => void this.renew(), this.intervalMs);
      this.timer.unref();
      await this.renew();
    })();
    return this.started;
  }

  /**
   * Renews now (after a reconnect: before the instance says again which streams it holds), then
   * sweeps what expired. One renewal at a time: a slow Redis gets no pile of them.
   */
  renew(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  /** After a reconnect: what was seen expired before it may be stale (its owner reconnects too). */
  forgetSuspects(): void {
    this.suspects.clear();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Stops, and leaves the index at once when the instance holds no stream: nobody need sweep it. */
  async leave(holdsStreams: boolean): Promise<void> {
    this.stop();
    if (!this.started || holdsStreams) return;
    const { commands, instanceId } = this.options;
    let timer: NodeJS.Timeout | undefined;
    // Best effort: a Redis that is away must not hold up the shutdown.
    const away = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)));
    await Promise.race([commands.zrem(this.keys.instances, instanceId).catch(() => undefined), away]);
    clearTimeout(timer);
  }

  private async renewOnce(): Promise<void> {
    const { instanceId, leaseMs, scripts, logger } = this.options;
    let expired: string[];
    try {
      expired = await scripts.run<string[]>(
        RENEW,
        [this.keys.instances, this.ownedKey],
        [instanceId, leaseMs, this.indexTtlMs],
      );
    } catch (error) {
      if (!this.stopped) logger.warn(`Renewing this instance's lease in Redis failed: ${(error as Error).message}`);
      this.suspects.clear();
      return;
    }
    if (this.stopped) return;
    const now = Date.now();
    for (const suspect of this.suspects.keys()) if (!expired.includes(suspect)) this.suspects.delete(suspect);
    const confirmed: string[] = [];
    for (const other of expired) {
      const since = this.suspects.get(other);
      if (since === undefined) this.suspects.set(other, now);
      else if (now - since >= this.intervalMs / 2) confirmed.push(other);
    }
    for (const lost of confirmed) {
      this.suspects.delete(lost);
      await this.sweep(lost).catch((error: Error) =>
        logger.warn(`Sweeping the streams of lost instance ${lost} failed: ${error.message}`),
      );
    }
    this.options.onRenewed();
  }

  /** Ends each running stream of a lost instance; any number of instances may do it at once. */
  private async sweep(lost: string): Promise<void> {
    const { commands, scripts, prefix, logger } = this.options;
    const owned = this.keys.owned(lost);
    const streams = await commands.smembers(owned);
    for (let i = 0; i < streams.length; i += SWEEP_CHUNK) {
      const chunk = streams.slice(i, i + SWEEP_CHUNK);
      const ended = await Promise.all(
        chunk.map((streamId) => {
          const keys = streamKeys(prefix, streamId);
          return scripts.run<number>(DECLARE_LOST, [keys.meta, keys.events, keys.eventsChannel], [lost]);
        }),
      );
      ended.forEach(
        (done, index) =>
          done === 1 && logger.warn(`Stream ${chunk[index]}: its producing instance's lease ran out; ended it.`),
      );
      await commands.srem(owned, ...chunk);
    }
    await scripts.run<number>(FORGET, [this.keys.instances, owned], [lost]);
  }
}
