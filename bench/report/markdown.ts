import type { Sizes } from '../scenarios/scenario.js';
import { FIGURES } from './figures.js';
import type { Machine } from './machine.js';
import type { PairSummary } from './pairs.js';
import { totalAnomalies, type Spread, type TargetSummary } from './summary.js';

export interface ReportInput {
  summaries: TargetSummary[];
  /** Targets compared with a reference of the same run (see pairs.ts). */
  pairs: PairSummary[];
  baseline: string;
  machine: Machine;
  sizes: Sizes;
  repetitions: number;
  /** Runs of idle memory (more than the repetitions: see RunOptions.idleRuns); 0 when it did not run. */
  idleRuns: number;
  /** Rounds per target of the comparison on running servers; 0 when it did not run. */
  runningRounds: number;
  scenarios: string[];
  /** Targets of the list whose server file does not exist yet. */
  absent: string[];
  startedAt: Date;
  /** Highest 1-minute load average seen during the run. */
  highestLoad: number;
  minutes: number;
  /** Image path of the chart as seen from where the Markdown is written. */
  chart: string;
}

const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}x` : '–');
const thousands = (value: number) => value.toLocaleString('en');

function cell(summary: TargetSummary, key: string): string {
  const figure = FIGURES.find((f) => f.key === key)!;
  const found = summary.figures[key];
  if (!found) return summary.skipped[figure.scenario] ? 'n/a' : '–';
  return `${ratio(found.ratio.median)} (${figure.format(found.value.median)})`;
}

function range(s: Spread, format: (v: number) => string): string {
  return s.count === 0 ? '–' : `${format(s.min)} – ${format(s.max)}`;
}

function cpuCell(summary: TargetSummary, scenario: string): string {
  const cpu = summary.cpu[scenario];
  return cpu ? `${cpu.loadgen.median.toFixed(0)}% / ${cpu.server.median.toFixed(0)}%` : '–';
}

/** A Markdown table: the first `leftColumns` columns aligned left, the others right. */
export function table(header: string[], rows: string[][], leftColumns = 1): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, i) => (i < leftColumns ? '---' : '---:')).join(' | ')} |`,
  ].concat(rows.map((row) => `| ${row.join(' | ')} |`));
}

function pairCell(pair: PairSummary, key: string): string {
  const found = pair.figures[key];
  if (!found) return '–';
  const { ratio: r } = found;
  const p = found.p < 0.01 ? '< 0.01' : found.p.toFixed(2);
  return `${ratio(r.median)} (${ratio(r.min)} – ${ratio(r.max)}), ${found.better} better / ${found.worse} worse, p ${p}`;
}

/** Plain `@Sse()` against the hand-written route, figure by figure, when both ran. */
function pairLines(pairs: PairSummary[], figures: typeof FIGURES): string[] {
  if (pairs.length === 0) return [];
  const rows = pairs.map((p) => [`${p.target} / ${p.reference}`, ...figures.map((f) => pairCell(p, f.key))]);
  return [
    '## Plain `@Sse()` against hand-written `@Sse()` + `Subject`',
    '',
    "The first target's figure divided by the second's in the same repetition (each idle-memory run counts): median (min – max); in how many repetitions the first did better and worse (higher throughput, lower everything else); and p, a two-sided sign test of the two being equals. Below 0.05 the run measured a difference; with 3 repetitions p cannot go below 0.25, so a figure outside idle memory needs `--reps` to show one. The figures marked running compare the two on servers that have been running, round by round (see Scenarios).",
    '',
    ...table(['targets', ...figures.map((f) => f.label)], rows),
    '',
  ];
}

function scenarioLines({ sizes, scenarios, runningRounds }: ReportInput): string[] {
  const { throughput: t, latency: l, idle, storm } = sizes;
  const lines: Record<string, string> = {
    throughput: `throughput: ${t.clients} clients, ${thousands(t.events)} events of ${t.size} B as fast as the producer goes; deliveries/s = events received / (last delivery − publish).`,
    latency: `latency: ${thousands(l.clients)} clients, ${l.rate} events/s for ${l.seconds} s (after ${l.warmupEvents} warm-up events); p50 / p99 of receipt − the event's \`t\`.`,
    'idle-memory': `idle memory: ${thousands(idle.connections)} idle connections to a channel with nothing to replay; (RSS, heapUsed after GC with them open − before) / connections; connect all = time until every response head arrived (200 at a time). A process of its own per run, loading only what idle memory uses: the library's targets run it without their SQLite store.`,
    running: `running (the pairs above, with idle memory): both servers of a pair start once and stay up; rounds alternate between them, ${runningRounds} each after a first round of warm-up: ${thousands(idle.connections)} connections opened 200 at a time, timed with the server's CPU, then closed. On a fresh process (connect all) the first connections run while V8 optimises the code they call and the heap grows for the first time, one-time costs that move by 10 to 20% between processes.`,
    'storm-buffer': `storm (buffer): ${thousands(storm.events)} events are published (to one scout client), ${thousands(storm.clients)} clients join after the last of them with its Last-Event-ID and receive one more, all drop, all reconnect at once with Last-Event-ID while one more event is published; time until every client has it.`,
    'storm-database': `storm (database): the same after POST /persist (the catch-up comes from the database); only targets with a database tier.`,
  };
  const shown = runningRounds > 0 ? [...scenarios, 'running'] : scenarios;
  return shown.map((name) => `- ${lines[name]}`);
}

export function renderMarkdown(input: ReportInput): string {
  const { summaries, baseline, machine, repetitions, idleRuns } = input;
  const idleNote =
    idleRuns > repetitions ? ` (idle memory: ${idleRuns} runs, ${idleRuns / repetitions} per repetition)` : '';
  const figures = FIGURES.filter((f) => input.scenarios.includes(f.scenario));
  const main = table(
    ['target', ...figures.map((f) => f.label), 'gaps+dups'],
    summaries.map((s) => [s.target, ...figures.map((f) => cell(s, f.key)), String(totalAnomalies(s.anomalies))]),
  );
  const spreads = table(
    ['target', ...figures.map((f) => f.label)],
    summaries.map((s) => [
      s.target,
      ...figures.map((f) => {
        const found = s.figures[f.key];
        return found ? `${range(found.ratio, ratio)} (${range(found.value, f.format)})` : '–';
      }),
    ]),
  );
  const cpuScenarios = ['throughput', 'latency', 'idle-memory', 'storm-buffer', 'storm-database'].filter((s) =>
    input.scenarios.includes(s),
  );
  const cpu = table(
    ['target', ...cpuScenarios],
    summaries.map((s) => [s.target, ...cpuScenarios.map((scenario) => cpuCell(s, scenario))]),
  );
  const packages = Object.entries(machine.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  const problems = summaries.flatMap((s) => s.errors.map((e) => `- ${s.target}: ${e.split('\n')[0]}`));
  const notes = summaries.flatMap((s) => s.notes.map((n) => `- ${s.target}: ${n}`));
  if (input.highestLoad > machine.cores)
    notes.unshift(
      `- The machine was busy: load average up to ${input.highestLoad.toFixed(1)} on ${machine.cores} cores during the run, so other work competed for the CPU and the figures are noisier than on an idle machine.`,
    );
  return [
    `# Benchmarks`,
    '',
    `Ratio to \`${baseline}\` (plain node:http writing one shared buffer per event) measured in the same repetition, then the value; median of ${repetitions} repetition${repetitions > 1 ? 's' : ''}${idleNote} with the target order rotated each time, fresh server processes per target and repetition: one for idle memory, one that runs the other scenarios, each on a channel of its own; each measurement starts once the load generator has collected its garbage and the machine is quiet (a 100 ms window with the cores 90% idle, at most 5 s), so that no run pays for the one before it. Throughput: higher is better; every other figure: lower is better. gaps+dups counts events missed, skipped or repeated by any client in any run: it must be 0.`,
    '',
    ...main,
    '',
    `![Ratios to ${baseline}](${input.chart})`,
    '',
    ...pairLines(
      input.pairs,
      FIGURES.filter((f) => input.pairs.some((pair) => f.key in pair.figures)),
    ),
    `## Spread (min – max over repetitions)`,
    '',
    ...spreads,
    '',
    `## CPU during the measurement (median, % of one core: load generator / server)`,
    '',
    'The load generator runs in its own process. Near 100% it, not the server, would be the limit.',
    '',
    ...cpu,
    '',
    `## Scenarios`,
    '',
    'One producer per channel, N SSE clients over loopback, every event `{"n","t","p"}` padded to its size. Every client checks its sequence for gaps and duplicates.',
    '',
    ...scenarioLines(input),
    ...(input.absent.length > 0 ? ['', `Not run (server file absent): ${input.absent.join(', ')}.`] : []),
    '',
    `## Machine`,
    '',
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}; load average ${machine.loadAverage.toFixed(2)} at the start. ${packages}. Run ${input.startedAt.toISOString()}, ${input.minutes.toFixed(1)} min.`,
    '',
    `Reproduce: \`npm run bench\` (options: \`--quick\`, \`--only=<targets>\`, \`--scenarios=<list>\`, \`--idle=10000\`, \`--reps=<n>\`, \`--publish\`).`,
    ...(problems.length > 0 ? ['', '## Failed runs', '', ...problems] : []),
    ...(notes.length > 0 ? ['', '## Notes', '', ...notes] : []),
    '',
  ].join('\n');
}
