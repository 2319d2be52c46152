import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { StreamLogger } from '../core/logger.js';

/** What `RedisStreamBus` connects with: a URL, ioredis options, or a client of your own. */
export type RedisConnection = string | RedisOptions | Redis | Cluster;

/**
 * A bus's connections: one for commands (the caller's client when given one) and one that only
 * subscribes (with a Cluster, ioredis' sharded subscribers: one per master). Each connection the
 * bus makes is named `meridian:<instance>:<role>` (CLIENT LIST shows it).
 */
export class RedisConnections {
  readonly commands: Redis | Cluster;
  readonly subscriber: Redis | Cluster;
  readonly cluster: boolean;
  private readonly ownsCommands: boolean;
  private readonly detach: (() => void)[] = [];
  private closed = false;

  constructor(connection: RedisConnection, instanceId: string, logger: StreamLogger) {
    const name = (role: string) => `meridian:${instanceId}:${role}`;
    this.ownsCommands = !(connection instanceof Redis || connection instanceof Cluster);
    this.cluster = connection instanceof Cluster;
    // Commands wait for a reconnect instead of failing (maxRetriesPerRequest: null).
    const own = { maxRetriesPerRequest: null, connectionName: name('commands') };
    this.commands =
      connection instanceof Redis || connection instanceof Cluster
        ? connection
        : typeof connection === 'string'
          ? new Redis(connection, own)
          : new Redis({ ...connection, ...own });
    this.subscriber =
      this.commands instanceof Cluster
        ? this.commands.duplicate([], {
            shardedSubscribers: true,
            redisOptions: {
              ...this.commands.options.redisOptions,
              maxRetriesPerRequest: null,
              connectionName: name('subscriber'),
            },
          })
        : this.commands.duplicate({ maxRetriesPerRequest: null, connectionName: name('subscriber') });
    this.listen(this.commands, 'error', (error: Error) => logger.warn(`Redis: ${error.message}`));
    this.listen(this.subscriber, 'error', (error: Error) => logger.warn(`Redis (subscriber): ${error.message}`));
  }

  /** Adds a listener that close() removes (the caller's client outlives the bus). */
  listen<A extends unknown[]>(client: Redis | Cluster, event: string, listener: (...args: A) => void): void {
    const emitter = client as unknown as NodeJS.EventEmitter;
    const untyped = listener as (...args: unknown[]) => void;
    emitter.on(event, untyped);
    this.detach.push(() => emitter.off(event, untyped));
  }

  /** Fails, saying what to check, when Redis does not answer PING within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const message = `Redis did not answer PING within ${timeoutMs / 1000} s: check the connection (URL, host, port) given to RedisStreamBus.`;
        reject(new Error(message));
      }, timeoutMs);
    });
    try {
      await Promise.race([this.commands.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    // Once only: closing a closed ioredis client leaves a timer behind.
    if (this.closed) return;
    this.closed = true;
    // The subscriber has nothing to flush; a Cluster's sharded subscribers may be reconnecting.
    this.subscriber.disconnect();
    if (this.ownsCommands) await this.commands.quit().catch(() => this.commands.disconnect());
    this.detach.splice(0).forEach((detach) => detach());
  }
}

/** Redis errors that a later try mends: a server loading its data, a cluster electing a master. */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY|READONLY)\b/;

/**
 * Runs `attempt` until it succeeds: a connection lost or a server not ready yet is waited out
 * (after 100 ms, doubling to 2 s); a reply error no retry mends, or a client closed for good, is
 * thrown. `gaveUp()` ends the retries (the bus shuts down).
 */
export async function retrying<T>(
  client: Redis | Cluster,
  attempt: () => Promise<T>,
  onRetry: (error: Error) => void,
  gaveUp: () => boolean,
): Promise<T> {
  for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 2_000)) {
    try {
      return await attempt();
    } catch (error) {
      const { name, message } = error as Error;
      const mendable = name !== 'ReplyError' || TRANSIENT_REPLY.test(message);
      if (!mendable || client.status === 'end' || gaveUp()) throw error;
      onRetry(error as Error);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
