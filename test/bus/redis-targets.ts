import { randomBytes } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import type { BusEvent, BusFollower } from 'nestjs-meridian-stream';
import type { BusOpenOptions } from '../../lib/core/stream-bus.js';
import { RedisStreamBus, type RedisStreamBusOptions } from 'nestjs-meridian-stream/redis';
import { PrivateRedis } from '../support/private-redis.js';
import { PrivateRedisCluster } from '../support/private-redis-cluster.js';

/**
 * A Redis the bus-level suites run against, started by the suite itself: a private redis-server
 * (so command counts are the suite's own) or a private 3-master Redis Cluster.
 */
export interface RedisTarget {
  readonly name: 'redis' | 'cluster';
  readonly masters: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A bus on this Redis; closed (with its client) by closeAll(). */
  bus(options?: Partial<RedisStreamBusOptions>): RedisStreamBus;
  closeAll(): Promise<void>;
  /** One client per node (per master in a Cluster), for INFO and CLIENT LIST. */
  nodes(): Redis[];
  /** A client that routes keys (a Cluster client for the cluster). */
  admin(): Redis | Cluster;
  /** Kills the server and starts it again, empty (a crash without persistence); single Redis only. */
  restart?(): Promise<void>;
}

abstract class Target {
  protected readonly buses: RedisStreamBus[] = [];
  protected readonly clients: (Redis | Cluster)[] = [];
  protected nodeClients: Redis[] = [];
  protected adminClient: Redis | Cluster | undefined;

  nodes(): Redis[] {
    return this.nodeClients;
  }

  admin(): Redis | Cluster {
    return this.adminClient!;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.buses.splice(0).map((bus) => bus.shutdown()));
    await Promise.all(this.clients.splice(0).map((client) => client.quit().catch(() => client.disconnect())));
  }
}

class SingleTarget extends Target implements RedisTarget {
  readonly name = 'redis' as const;
  readonly masters = 1;
  private readonly server = new PrivateRedis();

  async start(): Promise<void> {
    await this.server.start();
    this.nodeClients = [new Redis(this.server.url)];
    this.adminClient = this.nodeClients[0];
  }

  async stop(): Promise<void> {
    await this.closeAll();
    this.nodeClients.forEach((client) => client.disconnect());
    await this.server.kill();
  }

  async restart(): Promise<void> {
    await this.server.kill();
    await this.server.start();
  }

  bus(options: Partial<RedisStreamBusOptions> = {}): RedisStreamBus {
    const bus = new RedisStreamBus({ connection: this.server.url, keyPrefix: 'test:', ...options });
    this.buses.push(bus);
    return bus;
  }
}

class ClusterTarget extends Target implements RedisTarget {
  readonly name = 'cluster' as const;
  readonly masters = 3;
  private readonly cluster = new PrivateRedisCluster();

  async start(): Promise<void> {
    await this.cluster.start();
    this.nodeClients = this.cluster.ports.map((port) => new Redis(port, '127.0.0.1'));
    this.adminClient = this.cluster.client();
    this.clients.push(this.adminClient);
  }

  async stop(): Promise<void> {
    await this.closeAll();
    await this.adminClient?.quit();
    this.nodeClients.forEach((client) => client.disconnect());
    await this.cluster.stop();
  }

  /** The bus gets a Cluster client of its own, named `meridian-test:<random>` in CLIENT LIST. */
  bus(options: Partial<RedisStreamBusOptions> = {}): RedisStreamBus {
    const connectionName = `meridian-test:${randomBytes(4).toString('hex')}`;
    const client = this.cluster.client({ redisOptions: { connectionName } });
    const bus = new RedisStreamBus({ connection: client, keyPrefix: 'test:', ...options });
    this.clients.push(client);
    this.buses.push(bus);
    Object.defineProperty(bus, 'testConnectionName', { value: connectionName });
    return bus;
  }

  override async closeAll(): Promise<void> {
    const admin = this.adminClient;
    this.clients.splice(this.clients.indexOf(admin!), 1);
    await super.closeAll();
    if (admin) this.clients.push(admin);
  }
}

export function redisTargets(): RedisTarget[] {
  return [new SingleTarget(), new ClusterTarget()];
}

/** The Redis connections of `bus` now open, over every node: CLIENT LIST by connection name. */
export async function connectionsOf(target: RedisTarget, bus: RedisStreamBus): Promise<number> {
  const names = [bus.instanceId, (bus as unknown as { testConnectionName?: string }).testConnectionName].filter(
    (name): name is string => !!name,
  );
  let count = 0;
  for (const node of target.nodes()) {
    const list = (await node.client('LIST')) as string;
    for (const line of list.split('\n')) {
      const name = /\bname=(\S*)/.exec(line)?.[1] ?? '';
      if (names.some((wanted) => name.includes(wanted))) count++;
    }
  }
  return count;
}

/**
 * The commands clients sent to Redis while `during` ran, over every node, by name (MONITOR; the
 * commands a script runs inside Redis are not counted: a script call is one round trip).
 */
export async function clientCommands(target: RedisTarget, during: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const monitors = await Promise.all(target.nodes().map((node) => node.monitor()));
  for (const monitor of monitors) {
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua') seen.push(args[0].toLowerCase());
    });
  }
  try {
    await during();
    // MONITOR lags behind the commands: a PING through each node marks the end.
    await Promise.all(target.nodes().map((node) => node.ping('monitor-end')));
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    monitors.forEach((monitor) => monitor.disconnect());
  }
  return seen.filter((command) => command !== 'ping');
}

/** A unique stream id. */
export const streamId = (label = 's') => `${label}-${randomBytes(5).toString('hex')}`;

export const lostEvent = { type: 'error', data: JSON.stringify({ status: 'failed', reason: 'producer_lost' }) };
export const openOptions = (extra: Pick<BusOpenOptions, 'onControl' | 'descriptor'> = {}) => ({
  stored: false,
  lostEvent,
  retentionMs: 60_000,
  ...extra,
});
export const events = (from: number, to: number, final?: 'completed'): BusEvent[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    sequence: from + i,
    type: 'message',
    data: `event ${from + i}`,
    ...(final && from + i === to ? { final } : {}),
  }));

/** A follower that records what it is given. */
export function recorder(batchEvents?: number) {
  const got: BusEvent[] = [];
  const gaps: [number, number][] = [];
  let ended!: () => void;
  const done = new Promise<void>((resolve) => (ended = resolve));
  const follower: BusFollower = {
    event: (event) => {
      got.push(event);
      if (event.final) ended();
    },
    gap: (after, next) => gaps.push([after, next]),
    ...(batchEvents ? { batchEvents } : {}),
  };
  return { follower, got, gaps, done, sequences: () => got.map((event) => event.sequence) };
}

/** Stops a bus's lease renewal, as a paused process (SIGSTOP, a long GC pause) would. */
export function pauseLease(bus: RedisStreamBus): void {
  (bus as unknown as { lease: { stop(): void } }).lease.stop();
}
