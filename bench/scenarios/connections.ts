/**
 * How far one server process goes (issue 26): every target's server holds 1,000, then 5,000,
 * 10,000, then about 19,000 connections to one channel, all receiving every event of a broadcast
 * at 1 event/s. The load comes from a pool of load generator processes, each connecting from a
 * loopback address of its own. Targets take turns at each size (the order flips each size), so
 * the machine's other work falls on all of them alike.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { summariseLatencies } from '../loadgen/client-group.js';
import { preciseCpuSeconds } from '../loadgen/cpu-meter.js';
import type { LoadGeneratorPool } from '../loadgen/pool.js';
import type { GroupReport, LatencySummary, Position } from '../loadgen/protocol.js';
import { ServerProcess } from '../server-process.js';
import { waitUntilQuiet } from '../settle.js';
import type { Target } from '../targets.js';
import { STALL_MS, type Anomalies } from './scenario.js';
import { settledMemory } from './settled-memory.js';

export const CONNECTIONS_SCENARIO = 'connections';

export interface ConnectionsOptions {
  /** Connections at each step, growing. */
  sizes: number[];
  /** Events of the broadcast at each size (1 event/s). */
  seconds: number;
  /** A window with no event at each size, for the idle cost (0: none). */
  idleSeconds: number;
  /** Load generator processes. */
  loadgens: number;
  /** Connections waiting for their response head at once, over the whole pool. */
  concurrency: number;
  /**
   * Seconds of forced collections after the warm-up, before the baseline is read: a Nest
   * process's RSS fell in steps for about a minute after it started (148, 122, then 103 MB at
   * 50 s, with a collection every 2 s and nothing else to do), which would count against the
   * connections measured first.
   */
  matureSeconds: number;
  /** A quiet pause before each memory reading (see settledMemory). */
  quietSeconds: number;
}

export const DEFAULT_CONNECTIONS: ConnectionsOptions = {
  sizes: [1_000, 5_000, 10_000, 19_000],
  seconds: 20,
  // Longer than the library's default heartbeat (15 s), so that the window holds one.
  idleSeconds: 16,
  loadgens: 4,
  concurrency: 200,
  matureSeconds: 60,
  quietSeconds: 10,
};

export const QUICK_CONNECTIONS: ConnectionsOptions = {
  sizes: [200, 500],
  seconds: 3,
  idleSeconds: 0,
  loadgens: 2,
  concurrency: 100,
  matureSeconds: 0,
  quietSeconds: 1,
};

/** One target at one size. */
export interface ConnectionsStep {
  target: string;
  connections: number;
  /** (RSS after GC at this size − before the first connection) / connections. */
  rssPerConnection: number;
  /** The server's RSS after GC at this size, and before the first connection. */
  rss: number;
  baselineRss: number;
  heapPerConnection: number;
  /** Server CPU per event delivered to one connection, in µs, over the broadcast. */
  cpuPerEventUs: number;
  /** % of one core over the broadcast: the server, and the load generators together. */
  serverCpuPercent: number;
  loadgenCpuPercent: number;
  /** Server CPU over the window with no event, per connection and second, in µs; NaN when not measured. */
  idleCpuPerConnectionUs: number;
  /** Opening this step's new connections: all of them, and per 1,000. */
  connectMs: number;
  connectMsPer1000: number;
  latency: LatencySummary;
  anomalies: Anomalies;
  notes: string[];
}

/**
 * Clients of the warm-up round: enough to compile the code, few enough that what a server keeps
 * of closed connections until its next sweep (SseConnectionTracker drops ended responses once its
 * list has doubled) is not in the baseline. With 1,000, meridian's baseline held 5 MB of heap
 * that the first measured connections freed.
 */
const WARMUP_CLIENTS = 10;
/** Events of the warm-up round. */
const WARMUP_EVENTS = 10;
const CHANNEL = CONNECTIONS_SCENARIO;

/** One target's server and what the pool knows of it. */
class TargetUnderLoad {
  connections = 0;
  /** Events published on the channel so far. */
  published = 0;
  private baseline = { rss: NaN, heapUsed: NaN };

  constructor(
    readonly target: Target,
    readonly server: ServerProcess,
    private readonly pool: LoadGeneratorPool,
  ) {}

  get group(): string {
    return this.target.name;
  }

  /**
   * A round of `clients` connections on a channel of their own, with a few events, then closed:
   * code compiled on first use goes into the baseline rather than into the measured connections.
   */
  async warmUp(clients: number, concurrency: number): Promise<void> {
    const { server, pool } = this;
    await server.openChannel(CHANNEL);
    const warmup = `${CHANNEL}-warmup`;
    await server.openChannel(warmup);
    const group = `${this.group}-warmup`;
    await pool.all('connect', (index) => ({
      group,
      port: server.port,
      path: `/sse/${warmup}`,
      count: Math.ceil(clients / pool.size),
      concurrency: Math.max(1, Math.round(concurrency / pool.size)),
      localAddress: pool.sourceAddress(index),
    }));
    const waiting = pool.all('waitFor', { group, n: WARMUP_EVENTS, stallMs: 5_000 });
    await pool.members[0].call('publish', {
      port: server.port,
      channel: warmup,
      count: WARMUP_EVENTS,
      size: 100,
      rate: 10,
    });
    if ((await waiting).some((r) => r.reachedAt === null))
      throw new Error(`${this.group}: the warm-up clients did not get every event`);
    await pool.all('close', { group });
    await server.waitForConnections(0);
  }

  async readBaseline(quietSeconds: number): Promise<void> {
    this.baseline = await settledMemory(this.server, quietSeconds);
  }

  /** Opens connections up to `size`, spread over the pool; returns how long it took. */
  async grow(size: number, concurrency: number): Promise<number> {
    const { pool, server } = this;
    const added = size - this.connections;
    // New clients resume where the first ones stand, so they are not sent what the others had.
    const resumeFrom: Position | undefined =
      this.published > 0 ? await pool.members[0].call('position', { group: this.group }) : undefined;
    const share = (index: number) => Math.floor(added / pool.size) + (index < added % pool.size ? 1 : 0);
    const results = await pool.all('connect', (index) => ({
      group: this.group,
      port: server.port,
      path: `/sse/${CHANNEL}`,
      count: share(index),
      concurrency: Math.max(1, Math.round(concurrency / pool.size)),
      resumeFrom,
      localAddress: pool.sourceAddress(index),
    }));
    const opened = results.reduce((sum, r) => sum + r.opened, 0);
    if (opened !== added)
      throw new Error(
        `${this.group}: ${opened} of ${added} clients connected: ${JSON.stringify(results.map((r) => r.statuses))}`,
      );
    this.connections = size;
    await server.waitForConnections(size, 60_000);
    return Math.max(...results.map((r) => r.finishedAt)) - Math.min(...results.map((r) => r.startedAt));
  }

  /** Publishes `count` events at `rate` (0: at once) and waits until every client has them. */
  async broadcast(count: number, rate: number): Promise<void> {
    const { pool, server } = this;
    const n = this.published + count;
    const waiting = pool.all('waitFor', { group: this.group, n, stallMs: STALL_MS });
    await pool.members[0].call('publish', { port: server.port, channel: CHANNEL, count, size: 100, rate });
    const results = await waiting;
    this.published = n;
    const reached = results.reduce((sum, r) => sum + r.reached, 0);
    if (results.some((r) => r.reachedAt === null))
      throw new Error(`${this.group}: only ${reached} of ${this.connections} clients got event ${n}`);
  }

  async measure(options: ConnectionsOptions, connectMs: number, added: number): Promise<ConnectionsStep> {
    const { pool, server } = this;
    // The first event after connecting proves every client subscribed; latencies start after it.
    await this.broadcast(1, 0);
    await pool.all('measureLatencyFrom', { group: this.group, n: this.published + 1 });
    await pool.all('gc', {});
    await waitUntilQuiet();
    const serverFrom = preciseCpuSeconds(server.pid);
    const loadgenFrom = pool.cpuSeconds();
    const startedAt = performance.now();
    await this.broadcast(options.seconds, 1);
    const wallS = (performance.now() - startedAt) / 1000;
    const serverS = preciseCpuSeconds(server.pid) - serverFrom;
    const loadgenS = pool.cpuSeconds() - loadgenFrom;
    const after = await settledMemory(server, options.quietSeconds);
    // After the memory reading: by then the collections that follow a burst have run.
    const idleCpuPerConnectionUs = await this.idleCost(options.idleSeconds);
    const reports = await pool.all('report', { group: this.group, upToN: this.published });
    const latencies = (await pool.all('latencies', { group: this.group })).flat();
    return {
      target: this.group,
      connections: this.connections,
      rssPerConnection: (after.rss - this.baseline.rss) / this.connections,
      rss: after.rss,
      baselineRss: this.baseline.rss,
      heapPerConnection: (after.heapUsed - this.baseline.heapUsed) / this.connections,
      cpuPerEventUs: (serverS * 1e6) / (options.seconds * this.connections),
      serverCpuPercent: (serverS / wallS) * 100,
      loadgenCpuPercent: (loadgenS / wallS) * 100,
      idleCpuPerConnectionUs,
      connectMs,
      connectMsPer1000: (connectMs * 1000) / added,
      latency: summariseLatencies(latencies),
      anomalies: sumAnomalies(reports),
      notes: notesOf(reports),
    };
  }

  /** Server CPU with no event for `seconds`, in µs per connection and second; NaN for 0 s. */
  private async idleCost(seconds: number): Promise<number> {
    if (seconds <= 0) return NaN;
    const from = preciseCpuSeconds(this.server.pid);
    const startedAt = performance.now();
    await sleep(seconds * 1000);
    const wallS = (performance.now() - startedAt) / 1000;
    return ((preciseCpuSeconds(this.server.pid) - from) * 1e6) / (wallS * this.connections);
  }
}

/**
 * Runs the targets through every size, taking turns; `log` gets each step as it is measured.
 * Every server process is started here and stopped before this returns.
 */
export async function measureConnections(
  targets: readonly Target[],
  pool: LoadGeneratorPool,
  options: ConnectionsOptions,
  log: (step: ConnectionsStep) => void,
): Promise<ConnectionsStep[]> {
  const underLoad: TargetUnderLoad[] = [];
  const steps: ConnectionsStep[] = [];
  try {
    for (const target of targets) {
      const server = await ServerProcess.start(target, [CONNECTIONS_SCENARIO]);
      const one = new TargetUnderLoad(target, server, pool);
      underLoad.push(one);
      await one.warmUp(WARMUP_CLIENTS, options.concurrency);
    }
    // All servers at once: see matureSeconds.
    for (let waited = 0; waited < options.matureSeconds; waited += 2) {
      await Promise.all(underLoad.map((one) => one.server.stats(true)));
      await sleep(2_000);
    }
    for (const one of underLoad) await one.readBaseline(options.quietSeconds);
    for (const [index, size] of options.sizes.entries()) {
      const order = index % 2 === 0 ? underLoad : [...underLoad].reverse();
      for (const one of order) {
        const added = size - one.connections;
        await pool.all('gc', {});
        await waitUntilQuiet();
        const connectMs = await one.grow(size, options.concurrency);
        const step = await one.measure(options, connectMs, added);
        steps.push(step);
        log(step);
      }
    }
  } finally {
    await pool.all('closeAll', {}).catch(() => undefined);
    await Promise.all(underLoad.map((one) => one.server.stop()));
  }
  return steps;
}

function sumAnomalies(reports: GroupReport[]): Anomalies {
  return {
    gaps: reports.reduce((sum, r) => sum + r.gaps, 0),
    duplicates: reports.reduce((sum, r) => sum + r.duplicates, 0),
    missing: reports.reduce((sum, r) => sum + r.missing, 0),
  };
}

function notesOf(reports: GroupReport[]): string[] {
  const notes: string[] = [];
  const closed = reports.reduce((sum, r) => sum + r.closedEarly, 0);
  const errors = reports.reduce((sum, r) => sum + r.socketErrors, 0);
  if (closed > 0) notes.push(`${closed} connections closed by the server`);
  if (errors > 0) notes.push(`${errors} socket errors`);
  return notes;
}
