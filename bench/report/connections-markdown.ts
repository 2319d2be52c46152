import type { ConnectionsOptions, ConnectionsStep } from '../scenarios/connections.js';
import type { Machine } from './machine.js';
import { table } from './markdown.js';

export interface ConnectionsReport {
  steps: ConnectionsStep[];
  baseline: string;
  options: ConnectionsOptions;
  machine: Machine;
  startedAt: Date;
  minutes: number;
  /** Highest 1-minute load average seen during the run. */
  highestLoad: number;
}

/** Goals of issue 26, against the baseline measured in the same run. */
const RSS_RATIO_GOAL = 1.2;
const CPU_RATIO_GOAL = 1.0;
/** Both costs within this much of their value at FLAT_FROM, up to the largest size. */
const FLAT_WITHIN = 0.05;
const FLAT_FROM = 5_000;
/** Where the projection goes. */
const PROJECTED = 100_000;

const KiB = 1024;
const kib = (bytes: number) => `${(bytes / KiB).toFixed(1)} KiB`;
const us = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)} µs` : '–');
const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(value >= 100 ? 0 : 1)} ms` : '–');
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}x` : '–');
const thousands = (value: number) => value.toLocaleString('en');
const percent = (share: number) => `${share >= 0 ? '+' : ''}${(share * 100).toFixed(1)}%`;

/** A target's step at `connections`. */
function stepOf(steps: ConnectionsStep[], target: string, connections: number): ConnectionsStep | undefined {
  return steps.find((s) => s.target === target && s.connections === connections);
}

/** How much a figure moved from FLAT_FROM (or the nearest size above) to the largest size. */
function drift(steps: ConnectionsStep[], target: string, key: 'rssPerConnection' | 'cpuPerEventUs'): number {
  const own = steps.filter((s) => s.target === target && s.connections >= FLAT_FROM);
  if (own.length < 2) return NaN;
  return own[own.length - 1][key] / own[0][key] - 1;
}

function goalLines(report: ConnectionsReport, target: string): string[] {
  const { steps, baseline } = report;
  const own = steps.filter((s) => s.target === target);
  const ratios = (key: 'rssPerConnection' | 'cpuPerEventUs') =>
    own.map((s) => s[key] / (stepOf(steps, baseline, s.connections)?.[key] ?? NaN));
  const met = (ok: boolean) => (ok ? 'met' : '**not met**');
  const rss = ratios('rssPerConnection');
  const cpu = ratios('cpuPerEventUs');
  const rssDrift = drift(steps, target, 'rssPerConnection');
  const cpuDrift = drift(steps, target, 'cpuPerEventUs');
  return [
    `- \`${target}\`: RSS per connection at most ${RSS_RATIO_GOAL}x raw node at every size: ${met(rss.every((r) => r <= RSS_RATIO_GOAL))} (${rss.map(ratio).join(', ')}).`,
    `- \`${target}\`: server CPU per delivered event at most ${CPU_RATIO_GOAL}x raw node: ${met(cpu.every((r) => r <= CPU_RATIO_GOAL))} (${cpu.map(ratio).join(', ')}).`,
    `- \`${target}\`: flat within ${FLAT_WITHIN * 100}% from ${thousands(FLAT_FROM)} connections to the largest size: RSS per connection ${percent(rssDrift)} (${met(Math.abs(rssDrift) <= FLAT_WITHIN)}), CPU per event ${percent(cpuDrift)} (${met(Math.abs(cpuDrift) <= FLAT_WITHIN)}).`,
  ];
}

/**
 * What 100,000 connections would cost, from the cost of each connection added between the
 * smallest size at or above FLAT_FROM and the largest: it holds only if that cost stays flat.
 */
function projection(report: ConnectionsReport, target: string): string | undefined {
  const own = report.steps.filter((s) => s.target === target && s.connections >= FLAT_FROM);
  if (own.length < 2) return undefined;
  const [low, high] = [own[0], own[own.length - 1]];
  const rssAt = (s: ConnectionsStep) => s.rssPerConnection * s.connections;
  const marginal = (rssAt(high) - rssAt(low)) / (high.connections - low.connections);
  const rss = rssAt(high) + marginal * (PROJECTED - high.connections);
  const cpuShare = (high.cpuPerEventUs * PROJECTED) / 1e6;
  return `- \`${target}\`: each connection added from ${thousands(low.connections)} to ${thousands(high.connections)} cost ${kib(marginal)} of RSS; at that rate ${thousands(PROJECTED)} connections hold ${(rss / 2 ** 30).toFixed(2)} GiB above the idle process, and a broadcast of 1 event/s to all of them takes ${(cpuShare * 100).toFixed(0)}% of one core at ${us(high.cpuPerEventUs)} per delivered event.`;
}

/** The report of the connections scenario, in Markdown. */
export function connectionsMarkdown(report: ConnectionsReport): string {
  const { steps, baseline, options, machine } = report;
  const targets = [...new Set(steps.map((s) => s.target))];
  const rows = steps
    .toSorted((a, b) => a.connections - b.connections || targets.indexOf(a.target) - targets.indexOf(b.target))
    .map((s) => {
      const base = stepOf(steps, baseline, s.connections);
      const { gaps, duplicates, missing } = s.anomalies;
      return [
        thousands(s.connections),
        `\`${s.target}\``,
        `${kib(s.rssPerConnection)} (${ratio(s.rssPerConnection / (base?.rssPerConnection ?? NaN))})`,
        kib(s.heapPerConnection),
        `${us(s.cpuPerEventUs)} (${ratio(s.cpuPerEventUs / (base?.cpuPerEventUs ?? NaN))})`,
        `${s.serverCpuPercent.toFixed(0)}% / ${s.loadgenCpuPercent.toFixed(0)}%`,
        options.idleSeconds > 0 ? us(s.idleCpuPerConnectionUs) : '–',
        `${ms(s.connectMs)} (${ms(s.connectMsPer1000)})`,
        ms(s.latency.p50),
        ms(s.latency.p99),
        `${gaps} / ${duplicates} / ${missing}`,
      ];
    });
  const lines = [
    `Connections held by one server process, every one receiving every event of one stream broadcast at 1 event/s (${options.seconds} events per size, 100 B), beside \`${baseline}\` in the same run. ${options.loadgens} load generator processes connect from 127.0.0.2 on, one address each, ${options.concurrency} connections waiting for their head at a time; each target has one server process for all sizes, the targets take turns at each size.`,
    '',
    ...table(
      [
        'connections',
        'target',
        'RSS/conn (ratio)',
        'heap/conn',
        'server CPU/event (ratio)',
        'CPU server / load gen',
        `idle CPU/conn/s`,
        'connect (per 1,000)',
        'p50',
        'p99',
        'gaps / dups / missing',
      ],
      rows,
      2,
    ),
    '',
    "RSS/conn and heap/conn: after a forced GC at that size, minus the same after a warm-up and before the first connection, divided by the connections. Server CPU/event: the server process's CPU time (all its threads, /proc/<pid>/task/*/schedstat) over the broadcast, divided by the events delivered (events × connections). Idle CPU/conn/s: the server's CPU over a window with no event (" +
      `${options.idleSeconds} s), per connection and second. Connect: opening the connections added at that size. p50/p99: receipt minus the event's send time \`t\`, every client, every event of the broadcast.`,
    '',
    ...targets.filter((t) => t !== baseline).flatMap((t) => goalLines(report, t)),
    ...targets.map((t) => projection(report, t)).filter((line): line is string => line !== undefined),
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node.js ${machine.node}; load average ${machine.loadAverage.toFixed(1)} at the start, ${report.highestLoad.toFixed(1)} at most; ${report.minutes.toFixed(1)} minutes, started ${report.startedAt.toISOString()}.`,
  ];
  return `${lines.join('\n')}\n`;
}
