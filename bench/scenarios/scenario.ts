import type { LoadGenerator } from '../loadgen/remote.js';
import type { CpuResult, GroupReport, Position } from '../loadgen/protocol.js';
import type { ServerProcess } from '../server-process.js';
import type { Target } from '../targets.js';

/** How big each scenario is; --quick and --idle change them. */
export interface Sizes {
  throughput: { clients: number; events: number; size: number };
  latency: { clients: number; rate: number; seconds: number; warmupEvents: number; size: number };
  idle: { connections: number };
  storm: { clients: number; events: number; size: number };
}

export interface ScenarioContext {
  target: Target;
  /** Shared by every scenario of a repetition: each runs on a channel of its own (see servers/common.ts). */
  server: ServerProcess;
  /** This scenario's channel, opened on the server already. */
  channel: string;
  loadgen: LoadGenerator;
  sizes: Sizes;
}

export interface Anomalies {
  gaps: number;
  duplicates: number;
  /** Sequences some client never received. */
  missing: number;
}

export interface ScenarioResult {
  /** Named figures, e.g. deliveriesPerSecond; see FIGURES in ../report/figures.ts. */
  figures: Record<string, number>;
  anomalies: Anomalies;
  cpu?: CpuResult;
  /** Set when the scenario does not apply to the target (the figures are then empty). */
  skipped?: string;
  /** Things worth a look that are not failures (e.g. a library's own reset events). */
  notes?: string[];
}

export type Scenario = (context: ScenarioContext) => Promise<ScenarioResult>;

/** A stall this long with no event at all means the target is stuck, not slow. */
export const STALL_MS = 15_000;

export function anomaliesOf(report: GroupReport): Anomalies {
  return { gaps: report.gaps, duplicates: report.duplicates, missing: report.missing };
}

export function notesOf(report: GroupReport): string[] {
  const notes: string[] = [];
  const other = Object.entries(report.otherEvents);
  if (other.length > 0) notes.push(`events without n: ${other.map(([type, count]) => `${type} ×${count}`).join(', ')}`);
  if (report.closedEarly > 0) notes.push(`${report.closedEarly} connections closed by the server`);
  if (report.socketErrors > 0) notes.push(`${report.socketErrors} socket errors`);
  return notes;
}

/** Opens `count` clients of the scenario's channel and fails unless every one got a 200. */
export async function connectAll(
  { server, loadgen, channel }: ScenarioContext,
  group: string,
  count: number,
  options: { concurrency?: number; latencyFromN?: number; resumeFrom?: Position } = {},
) {
  const result = await loadgen.call('connect', {
    group,
    port: server.port,
    path: `/sse/${channel}`,
    count,
    concurrency: options.concurrency ?? 200,
    latencyFromN: options.latencyFromN,
    resumeFrom: options.resumeFrom,
  });
  if (result.opened !== count)
    throw new Error(`${result.opened} of ${count} clients connected: ${JSON.stringify(result.statuses)}`);
  return result;
}

/**
 * Publishes one event and waits until every client has it: proves each client is subscribed
 * (a response head can come before the subscription) before anything is measured.
 */
export async function prime({ server, loadgen, channel }: ScenarioContext, group: string, n: number, size: number) {
  const waiting = loadgen.call('waitFor', { group, n, stallMs: 5_000 });
  await loadgen.call('publish', { port: server.port, channel, count: 1, size, rate: 0 });
  const result = await waiting;
  if (result.reachedAt === null)
    throw new Error(`only ${result.reached} of ${result.clients} clients got the first event`);
}

/** Publishes and waits for every client to reach the last sequence; returns both clocks. */
export async function publishAndWait(
  { server, loadgen, channel }: ScenarioContext,
  group: string,
  publish: { count: number; size: number; rate: number },
  lastN: number,
) {
  // waitFor first: it must know its target before the first event can arrive.
  const waiting = loadgen.call('waitFor', { group, n: lastN, stallMs: STALL_MS });
  const { sentAt } = await loadgen.call('publish', { port: server.port, channel, ...publish });
  return { sentAt, wait: await waiting };
}
