/**
 * The scale scenario of `npm run bench:multi` (issue 23): many concurrent streams at 10 events/s,
 * each read by one client on an instance other than its producer, on three sample-app processes
 * sharing a private redis-server, beside one process serving the same load alone.
 *
 *   tsx bench/multi-scale.ts [--streams=2000] [--seconds=30] [--idle-streams=200] [--idle-seconds=20]
 *                            [--modes=single,redis] [--size=100]
 *
 * Per mode: p50/p99 from the event's send time `t` to receipt, gaps/duplicates/missing events,
 * CPU per process (/proc/<pid>/stat) over a steady window; with Redis also connections per
 * instance (CLIENT LIST), commands per event (INFO commandstats, MONITOR sample) and the cost of
 * an idle followed stream. Writes bench/results/multi-scale.json and .md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { PrivateRedis } from '../test/support/private-redis.js';
import { spawnSampleApp, type SpawnedApp } from '../test/support/spawned-app.js';
import { epochNow } from './clock.js';
import { ScaleLoadGenerator } from './loadgen/scale-remote.js';
import type { OpenResult, ScaleReport, WaitResult } from './loadgen/scale-protocol.js';
import {
  callsBetween,
  connectionsByInstance,
  cpuSeconds,
  machineCpu,
  monitorSample,
  redisCounters,
  sum,
  type InstanceConnections,
  type MonitorSample,
} from './multi-scale-probes.js';
import { describeMachine, type Machine } from './report/machine.js';
import { scaleMarkdown } from './multi-scale-report.js';

export type ScaleMode = 'single' | 'redis';

export interface ScaleOptions {
  streams: number;
  /** Seconds of events per stream (10 events/s). */
  seconds: number;
  intervalMs: number;
  size: number;
  idleStreams: number;
  idleSeconds: number;
  modes: ScaleMode[];
  /**
   * Where each instance's SQLite file lives. `tmpfs` (default where /dev/shm exists): the sample
   * app persists each stream every second (persistEveryMs), one transaction per stream, and on
   * this machine's virtual disk 2,000 synced commits a second stall the event loop long before
   * the library or Redis is the limit. `disk`: the OS temp folder.
   */
  database: 'tmpfs' | 'disk';
}

export const DEFAULT_SCALE_OPTIONS: ScaleOptions = {
  streams: 500,
  seconds: 30,
  intervalMs: 100,
  size: 100,
  idleStreams: 200,
  idleSeconds: 20,
  modes: ['single', 'redis'],
  database: existsSync('/dev/shm') ? 'tmpfs' : 'disk',
};

/** Latencies leave out each stream's first second (its first 10 events): warm-up. */
const WARMUP_EVENTS = 10;
/**
 * Below this share of the asked rate, the run did not sustain the load. The sample producer
 * sleeps intervalMs after each send, so any delay of its event loop lowers its rate a little on a
 * busy machine; a machine that cannot keep up loses far more (2,000 streams here: about half).
 */
const SUSTAINED_SHARE = 0.9;
/** The steady window starts this long after the last stream's first event. */
const SETTLE_MS = 2_000;

export interface RedisFigures {
  /** CLIENT LIST at the middle of the window, per instance. */
  connections: InstanceConnections[];
  /** Connections of no instance (the runner's own among them). */
  otherConnections: number;
  /** Over the window: commands Redis counted per event (commandstats, scripts' own commands included). */
  commandsPerEvent: number;
  /** total_commands_processed per event over the window (this runner's INFO calls taken out). */
  totalCommandsPerEvent: number;
  /** Per event over the window, by command (commandstats). */
  byCommand: Record<string, number>;
  /** From the first POST to the last client's end (creation, claims, completion and persistence included). */
  wholeRunCommandsPerEvent: number;
  /** MONITOR for 1 s after the window: commands sent by the instances, and run inside scripts, per event. */
  monitor: { events: number; clientPerEvent: number; scriptPerEvent: number; sample: MonitorSample } | undefined;
}

/** Redis commands per minute over an idle window, from MONITOR. */
export interface IdleWindow {
  /** Idle followed streams during the window. */
  streams: number;
  /** Commands the instances sent (script calls among them). */
  sentPerMinute: number;
  /** Sent, plus the commands their scripts ran. */
  allPerMinute: number;
  sample: MonitorSample;
}

export interface IdleFigures {
  seconds: number;
  /** No stream, then K, then 2K idle followed streams. */
  windows: IdleWindow[];
  /** What one more idle followed stream adds: (2K window - K window) / K, all commands per minute. */
  perIdleStreamPerMinute: number;
  /** The same, counting only the commands sent. */
  sentPerIdleStreamPerMinute: number;
  connections: InstanceConnections[];
}

export interface ModeResult {
  mode: ScaleMode;
  instances: number;
  open: OpenResult;
  wait: WaitResult;
  report: Omit<ScaleReport, 'sentPerSlot'>;
  window: { ms: number; events: number; eventsPerSecond: number; targetPerSecond: number };
  /** % of one core over the window. */
  cpu: { instances: number[]; redis: number; loadGenerator: number; machineBusy: number };
  redis?: RedisFigures;
  idle?: IdleFigures;
}

export interface ScaleResult {
  options: ScaleOptions;
  machine: Machine;
  startedAt: string;
  durationS: number;
  modes: ModeResult[];
  /** Why the run is not a valid measurement (empty: it is). */
  failures: string[];
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Everything a mode started, so that a failure stops exactly that. */
class Started {
  apps: SpawnedApp[] = [];
  redis: PrivateRedis | undefined;
  admin: Redis | undefined;
  loadgen: ScaleLoadGenerator | undefined;
  private readonly folders: string[] = [];

  /** A SQLite file of its own in tmpfs (undefined: spawnSampleApp's default, a file in the OS temp folder). */
  databaseFolder(database: ScaleOptions['database']): string | undefined {
    if (database !== 'tmpfs') return undefined;
    const folder = mkdtempSync('/dev/shm/meridian-scale-');
    this.folders.push(folder);
    return path.join(folder, 'events.sqlite');
  }

  async stop(): Promise<void> {
    await this.loadgen?.stop();
    await Promise.all(
      this.apps.map(async (app) => {
        const timer = setTimeout(() => app.process.kill('SIGKILL'), 15_000);
        await app.stop();
        clearTimeout(timer);
      }),
    );
    this.admin?.disconnect();
    await this.redis?.kill();
    for (const folder of this.folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  }
}

function percentOfCore(cpuSecondsUsed: number, ms: number): number {
  return (cpuSecondsUsed * 1000 * 100) / ms;
}

async function sleepUntil(epoch: number): Promise<void> {
  const wait = epoch - epochNow();
  if (wait > 0) await sleep(wait);
}

/** Events whose send time `t` fell in [from, to), from the 100 ms slots the load generator counted. */
function eventsSentBetween(slots: Record<string, number>, from: number, to: number): number {
  let count = 0;
  for (const [slot, events] of Object.entries(slots)) {
    const at = Number(slot) * 100;
    if (at >= from && at < to) count += events;
  }
  return count;
}

/**
 * The cost of idle followed streams: Redis commands (MONITOR) over a window with none, one with
 * K, one with 2K, each stream's producer silent and its client on another instance. What the
 * K more add is the cost per stream; what the first K add beyond it is a cost per instance
 * (an instance with no stream renews no lease).
 */
async function measureIdle(started: Started, redisUrl: string, options: ScaleOptions): Promise<IdleFigures> {
  const ms = options.idleSeconds * 1000;
  const ports = started.apps.map((app) => Number(new URL(app.baseUrl).port));
  const windows: IdleWindow[] = [];
  const measure = async (streams: number) => {
    const sample = await monitorSample(redisUrl, ms);
    const perMinute = (n: number) => (n * 60_000) / (sample.toMs - sample.fromMs);
    windows.push({
      streams,
      sentPerMinute: perMinute(sum(sample.client)),
      allPerMinute: perMinute(sum(sample.client) + sum(sample.script)),
      sample,
    });
  };
  const addIdle = async (group: string) => {
    const opened = await started.loadgen!.call('open', {
      group,
      ports,
      streams: options.idleStreams,
      clientOffset: 1,
      // Producers that wait 10 minutes before their one event: running, followed, silent.
      body: { events: 1, intervalMs: 0, size: options.size },
      startAt: epochNow() + 600_000,
      spreadMs: 0,
      concurrency: 16,
      warmupEvents: 0,
    });
    if (opened.createFailed || opened.failed) throw new Error(`idle streams: ${opened.errors.join('; ')}`);
    // What creating them cost is not idle cost.
    await sleep(3_000);
  };
  await measure(0);
  await addIdle('idle-1');
  await measure(options.idleStreams);
  await addIdle('idle-2');
  await measure(2 * options.idleStreams);
  const { instances } = await connectionsByInstance(
    started.admin!,
    started.apps.map((app) => app.process.pid!),
  );
  for (const group of ['idle-1', 'idle-2']) {
    await started.loadgen!.call('cancel', { group });
    await started.loadgen!.call('close', { group });
  }
  return {
    seconds: options.idleSeconds,
    windows,
    perIdleStreamPerMinute: (windows[2].allPerMinute - windows[1].allPerMinute) / options.idleStreams,
    sentPerIdleStreamPerMinute: (windows[2].sentPerMinute - windows[1].sentPerMinute) / options.idleStreams,
    connections: instances,
  };
}

async function runMode(mode: ScaleMode, options: ScaleOptions, started: Started): Promise<ModeResult> {
  const count = mode === 'redis' ? 3 : 1;
  const env: Record<string, string> = { HEARTBEAT_MS: '0' };
  if (mode === 'redis') {
    started.redis = await new PrivateRedis().start();
    started.admin = new Redis(started.redis.url);
    Object.assign(env, {
      REDIS_URL: started.redis.url,
      REDIS_PREFIX: `bench-scale:${randomBytes(3).toString('hex')}:`,
    });
  }
  for (let i = 0; i < count; i++) {
    const database = started.databaseFolder(options.database);
    started.apps.push(await spawnSampleApp(database ? { ...env, DATABASE_URL: `sqlite:${database}` } : env));
  }
  started.loadgen = ScaleLoadGenerator.start();
  const pids = started.apps.map((app) => app.process.pid!);
  const ports = started.apps.map((app) => Number(new URL(app.baseUrl).port));
  const redisPid = started.admin
    ? Number(/process_id:(\d+)/.exec((await started.admin.info('server')) as string)?.[1])
    : NaN;
  await sleep(2_000);

  const idle = mode === 'redis' ? await measureIdle(started, started.redis!.url, options) : undefined;

  const { streams, intervalMs } = options;
  const events = Math.round((options.seconds * 1000) / intervalMs);
  // Time to create every stream and connect its client before the first event.
  const startAt = epochNow() + 3_000 + streams * 4;
  const before = started.admin ? await redisCounters(started.admin) : undefined;
  const open = await started.loadgen.call('open', {
    group: 'load',
    ports,
    streams,
    clientOffset: mode === 'redis' ? 1 : 0,
    body: { events, intervalMs, size: options.size },
    startAt,
    spreadMs: intervalMs,
    concurrency: 32,
    warmupEvents: WARMUP_EVENTS,
  });
  if (open.createFailed || open.failed) {
    throw new Error(
      `${mode}: ${open.createFailed} streams not created, ${open.failed} clients refused: ${open.errors.join('; ')}`,
    );
  }
  if (open.finishedAt > startAt)
    console.warn(`${mode}: the clients connected ${Math.round(open.finishedAt - startAt)} ms after the first event`);

  const windowFrom = startAt + intervalMs + SETTLE_MS;
  // The first stream ends at startAt + (events - 1) * intervalMs at the earliest; keep 2 s for MONITOR.
  const windowTo = startAt + (events - 1) * intervalMs - 2_000;
  if (windowTo - windowFrom < 5_000) throw new Error(`--seconds=${options.seconds} leaves no steady window`);
  await sleepUntil(windowFrom);
  const cpuFrom = {
    instances: pids.map(cpuSeconds),
    redis: cpuSeconds(redisPid),
    loadgen: cpuSeconds(started.loadgen.pid),
    machine: machineCpu(),
  };
  const countersFrom = started.admin ? await redisCounters(started.admin) : undefined;
  const measuredFrom = epochNow();
  await sleepUntil(windowFrom + (windowTo - windowFrom) / 2);
  const connections = started.admin ? await connectionsByInstance(started.admin, pids) : undefined;
  await sleepUntil(windowTo);
  const countersTo = started.admin ? await redisCounters(started.admin) : undefined;
  const measuredTo = epochNow();
  const windowMs = measuredTo - measuredFrom;
  const machineTo = machineCpu();
  const cpu = {
    instances: pids.map((pid, i) => percentOfCore(cpuSeconds(pid) - cpuFrom.instances[i], windowMs)),
    redis: percentOfCore(cpuSeconds(redisPid) - cpuFrom.redis, windowMs),
    loadGenerator: percentOfCore(cpuSeconds(started.loadgen.pid) - cpuFrom.loadgen, windowMs),
    // Every process of the machine (other work included), in % of one core like the rest.
    machineBusy:
      ((machineTo.busy - cpuFrom.machine.busy) / (machineTo.total - cpuFrom.machine.total)) * 100 * os.cpus().length,
  };
  const sample = started.redis ? await monitorSample(started.redis.url, 1_000) : undefined;

  const deadline = startAt + events * intervalMs * 1.5 + 30_000;
  const wait = await started.loadgen.call('wait', { group: 'load', stallMs: 15_000, deadline });
  if (!wait.complete) {
    for (const app of started.apps) console.error(`${mode}: ${app.baseUrl} said, last:\n${app.output().slice(-2_000)}`);
  }
  const after = started.admin ? await redisCounters(started.admin) : undefined;
  const { sentPerSlot, ...report } = await started.loadgen.call('report', { group: 'load' });
  const windowEvents = eventsSentBetween(sentPerSlot, measuredFrom, measuredTo);

  let redis: RedisFigures | undefined;
  if (before && after && countersFrom && countersTo && connections && sample) {
    const window = callsBetween(countersFrom, countersTo);
    const monitorEvents = eventsSentBetween(sentPerSlot, sample.fromMs, sample.toMs);
    redis = {
      connections: connections.instances,
      otherConnections: connections.others,
      commandsPerEvent: sum(window) / windowEvents,
      // Between the two readings, total_commands_processed also counts the first INFO and the CLIENT LIST.
      totalCommandsPerEvent: (countersTo.total - countersFrom.total - 2) / windowEvents,
      byCommand: Object.fromEntries(Object.entries(window).map(([name, calls]) => [name, calls / windowEvents])),
      wholeRunCommandsPerEvent: sum(callsBetween(before, after)) / report.events,
      monitor: {
        events: monitorEvents,
        clientPerEvent: sum(sample.client) / monitorEvents,
        scriptPerEvent: sum(sample.script) / monitorEvents,
        sample,
      },
    };
  }
  return {
    mode,
    instances: count,
    open,
    wait,
    report,
    window: {
      ms: windowMs,
      events: windowEvents,
      eventsPerSecond: (windowEvents * 1000) / windowMs,
      targetPerSecond: (streams * 1000) / intervalMs,
    },
    cpu,
    redis,
    idle,
  };
}

/** Why a mode's figures are no valid measurement. */
function failuresOf(result: ModeResult): string[] {
  const failures: string[] = [];
  const { report } = result;
  if (report.gaps || report.duplicates || report.missing)
    failures.push(
      `${result.mode}: ${report.gaps} gaps, ${report.duplicates} duplicates, ${report.missing} missing events`,
    );
  if (!result.wait.complete) {
    failures.push(
      `${result.mode}: ${report.clients - report.ended} of ${report.clients} clients got no final event${result.wait.timedOut ? ' (nothing arrived for 15 s, or the deadline passed)' : ''}`,
    );
  } else if (result.window.eventsPerSecond < SUSTAINED_SHARE * result.window.targetPerSecond) {
    failures.push(
      `${result.mode}: ${Math.round(result.window.eventsPerSecond)} events/s sent of ${result.window.targetPerSecond} asked: the machine did not sustain the load`,
    );
  }
  return failures;
}

export async function runScale(options: ScaleOptions): Promise<ScaleResult> {
  const startedAt = new Date();
  const machine = describeMachine();
  const modes: ModeResult[] = [];
  const failures: string[] = [];
  for (const mode of options.modes) {
    const started = new Started();
    // Killed (Ctrl-C, a timeout): stop what this mode started rather than leave it running.
    const stopOnSignal = (signal: NodeJS.Signals) => {
      console.error(`scale: ${signal}, stopping the processes this run started`);
      void started.stop().finally(() => process.exit(130));
    };
    for (const signal of SIGNALS) process.once(signal, stopOnSignal);
    try {
      console.log(`scale: ${mode}, ${options.streams} streams, ${options.seconds} s...`);
      const result = await runMode(mode, options, started);
      modes.push(result);
      failures.push(...failuresOf(result));
      console.log(
        JSON.stringify({ ...result, idle: undefined, redis: result.redis && { ...result.redis, monitor: undefined } }),
      );
    } catch (error) {
      failures.push(`${mode}: ${error instanceof Error ? error.message : String(error)}`);
      console.error(`scale ${mode} failed:`, error);
    } finally {
      for (const signal of SIGNALS) process.removeListener(signal, stopOnSignal);
      await started.stop();
    }
  }
  return {
    options,
    machine,
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    modes,
    failures,
  };
}

/** Writes bench/results/multi-scale.json and .md; returns the Markdown. */
export function writeScaleResult(result: ScaleResult): string {
  const markdown = scaleMarkdown(result);
  const out = path.resolve(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'multi-scale.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(path.join(out, 'multi-scale.md'), `${markdown}\n`);
  return markdown;
}

export function parseScaleOptions(argv: string[]): ScaleOptions {
  const options = { ...DEFAULT_SCALE_OPTIONS };
  for (const arg of argv) {
    const [name, value] = arg.replace(/^--/, '').split('=');
    const number = Number(value);
    switch (name) {
      case 'streams':
        options.streams = number;
        break;
      case 'seconds':
        options.seconds = number;
        break;
      case 'size':
        options.size = number;
        break;
      case 'idle-streams':
        options.idleStreams = number;
        break;
      case 'idle-seconds':
        options.idleSeconds = number;
        break;
      case 'modes':
        options.modes = value.split(',') as ScaleMode[];
        break;
      case 'database':
        if (value !== 'tmpfs' && value !== 'disk') throw new Error('--database takes tmpfs or disk');
        options.database = value;
        break;
      default:
        continue;
    }
    if (name !== 'modes' && name !== 'database' && !(Number.isInteger(number) && number > 0))
      throw new Error(`--${name} takes a whole number > 0`);
  }
  return options;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runScale(parseScaleOptions(process.argv.slice(2)));
  console.log(`\n${writeScaleResult(result)}\n`);
  process.exitCode = result.failures.length ? 1 : 0;
}
