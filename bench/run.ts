/**
 * The benchmark of issue 6: every target (bench/targets.ts) through every scenario
 * (bench/scenarios/), the load generator in its own process. Each repetition starts fresh server
 * processes per target: one for idle memory, one that runs the other scenarios one after the
 * other, each on a channel of its own. Repetitions rotate the target order; figures are medians
 * with min and max, and ratios to raw node:http of the same repetition. Writes bench/results/ (and docs/ with --publish),
 * prints the table, exits non-zero if any client saw a gap or a duplicate, or a run failed.
 *
 *   npm run bench                      (3 repetitions of the targets issue 6 compares, 9 runs of idle memory)
 *   npx tsx bench/run.ts --all         (also the library's other paths)
 *   npx tsx bench/run.ts --quick       (1 small repetition, a smoke test)
 *   npm run bench -- --scenarios=connections   (1,000 to 19,000 connections: see run-connections.ts)
 */
import os from 'node:os';
import path from 'node:path';
import { staleBuildWarning } from './library-build.js';
import { LoadGenerator } from './loadgen/remote.js';
import { describeMachine } from './report/machine.js';
import { comparePairs, PAIRS } from './report/pairs.js';
import { waitUntilQuiet } from './settle.js';
import { summarise, totalAnomalies, type RunRecord } from './report/summary.js';
import { RESULTS, writeResults } from './report/write-results.js';
import { parseOptions, type RunOptions } from './run-options.js';
import { measureRunningPair, RUNNING_SCENARIO } from './running-pairs.js';
import { runConnections } from './run-connections.js';
import { runMultiInstance } from './run-multi-instance.js';
import { CONNECTIONS_SCENARIO } from './scenarios/connections.js';
import { SCENARIOS } from './scenarios/index.js';
import { ServerProcess } from './server-process.js';
import { BASELINE, selectTargets, type Target } from './targets.js';

/** The order scenarios run in on one server. */
const SCENARIO_ORDER = ['idle-memory', 'latency', 'throughput', 'storm-buffer', 'storm-database'];
/**
 * Scenarios with a server process of their own. Idle memory charges each connection what it costs
 * on a fresh process. Also, right after its 5,000 connections came and went, Nest on Express
 * delivered to 1,000 clients with 8 times the latency it had without them (273 against 33 ms
 * p50, three runs back to back); its latency at that load also swings between fresh processes
 * (67 to 199 ms p50 in one published run), so the cause is not settled, but the others do not
 * run after idle memory on the same process.
 */
const OWN_PROCESS = new Set(['idle-memory']);

/**
 * One repetition of one target: fresh server processes that run the scenarios, each on a channel
 * of its own (see OWN_PROCESS). A scenario that fails gets its error recorded, and the next one a
 * fresh process, as the failure may have left the server in any state.
 */
async function runTarget(
  loadgen: LoadGenerator,
  target: Target,
  options: RunOptions,
  scenarios: string[],
  repetition: number,
  earlierRuns: RunRecord[],
): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  let server: ServerProcess | undefined;
  const planned = SCENARIO_ORDER.filter((name) => scenarios.includes(name));
  // Told to each process, so that a target loads only what its scenarios use.
  const processScenarios = (scenario: string) =>
    OWN_PROCESS.has(scenario) ? [scenario] : planned.filter((name) => !OWN_PROCESS.has(name));
  try {
    for (const scenario of planned) {
      // What did not apply to a target once (no resume, no database) will not in later
      // repetitions either: it is not run again.
      const skipped = earlierRuns.find((r) => r.scenario === scenario && r.target === target.name && r.result?.skipped);
      const started = performance.now();
      const record: RunRecord = skipped
        ? { ...skipped, repetition }
        : { repetition, scenario, target: target.name, seconds: 0, loadAverage: 0 };
      if (!skipped) {
        try {
          server ??= await ServerProcess.start(target, processScenarios(scenario));
          await server.openChannel(scenario);
          // The last run's aftermath and this server's start-up, out of the way of the measurement.
          await loadgen.call('gc', {});
          await waitUntilQuiet();
          record.result = await SCENARIOS[scenario]({
            target,
            server,
            channel: scenario,
            loadgen,
            sizes: options.sizes,
          });
        } catch (error) {
          const tail = server?.tail().trim();
          record.error = `${error instanceof Error ? error.message : String(error)}${tail ? `\nserver output:\n${tail}` : ''}`;
          await loadgen.call('closeAll', {}).catch(() => undefined);
        }
        if (record.error || OWN_PROCESS.has(scenario)) {
          await server?.stop();
          server = undefined;
        }
      }
      record.seconds = (performance.now() - started) / 1000;
      record.loadAverage = os.loadavg()[0];
      records.push(record);
      console.log(describe(record, options.repetitions));
    }
  } finally {
    await server?.stop();
  }
  return records;
}

/** The pairs of report/pairs.ts whose two targets run, as targets. */
function runningPairs(targets: Target[], rounds: number): [Target, Target][] {
  if (rounds === 0) return [];
  const named = new Map(targets.map((t) => [t.name, t]));
  return PAIRS.filter(([a, b]) => named.has(a) && named.has(b)).map(([a, b]) => [named.get(a)!, named.get(b)!]);
}

function describe(record: RunRecord, repetitions: number, unit: 'rep' | 'round' = 'rep'): string {
  // Past the repetitions, a round of idle memory alone (see RunOptions.idleRuns).
  const round =
    unit === 'round'
      ? `r${record.repetition + 1}`
      : record.repetition < repetitions
        ? `rep ${record.repetition + 1}`
        : `+${record.repetition + 1 - repetitions}`;
  const head = `${round.padEnd(5)} ${record.scenario.padEnd(14)} ${record.target.padEnd(24)}`;
  if (record.error) return `${head} FAILED: ${record.error}`;
  const result = record.result!;
  if (result.skipped) return `${head} skipped: ${result.skipped}`;
  const figures = Object.entries(result.figures).map(([key, value]) => `${key}=${value.toFixed(1)}`);
  const cpu = result.cpu
    ? ` cpu loadgen ${result.cpu.loadgenPercent.toFixed(0)}% server ${result.cpu.serverPercent.toFixed(0)}%`
    : '';
  const anomalies = totalAnomalies(result.anomalies);
  return `${head} ${figures.join(' ')}${cpu} anomalies=${anomalies} (${record.seconds.toFixed(1)} s)${
    result.notes?.length ? ` [${result.notes.join('; ')}]` : ''
  }`;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  // A scenario with its own runner (several load generators, every size on one process): run
  // after the others, and on its own when it is the only one named.
  if (options.scenarios.includes(CONNECTIONS_SCENARIO)) {
    const others = options.scenarios.filter((name) => name !== CONNECTIONS_SCENARIO);
    const code = others.length > 0 ? await runScenarios({ ...options, scenarios: others }) : 0;
    return Math.max(code, await runConnections(options));
  }
  return runScenarios(options);
}

async function runScenarios(options: RunOptions): Promise<number> {
  const { targets, missing } = selectTargets(options.only, options.all);
  for (const target of missing) console.log(`skipping ${target.name}: ${target.file} does not exist yet`);
  const stale = targets.some((t) => t.name.startsWith('meridian')) ? staleBuildWarning() : undefined;
  if (stale) console.warn(`warning: ${stale}`);
  const startedAt = new Date();
  const machine = describeMachine();
  const loadgen = LoadGenerator.start();
  const runs: RunRecord[] = [];
  try {
    // idleRuns is a multiple of the repetitions: after the full repetitions, only idle memory runs.
    for (let repetition = 0; repetition < options.idleRuns; repetition++) {
      const scenarios =
        repetition < options.repetitions ? options.scenarios : options.scenarios.filter((s) => s === 'idle-memory');
      if (scenarios.length === 0) break;
      // Rotating the order each repetition spreads warm-up and machine noise over every target.
      const order = targets.map((_, i) => targets[(i + repetition) % targets.length]);
      for (const target of order)
        runs.push(...(await runTarget(loadgen, target, options, scenarios, repetition, runs)));
    }
    for (const pair of runningPairs(targets, options.runningRounds))
      runs.push(
        ...(await measureRunningPair(loadgen, pair, options.sizes, options.runningRounds, (record) =>
          console.log(describe(record, options.repetitions, 'round')),
        )),
      );
  } finally {
    loadgen.stop();
  }
  const extra = options.multi ? await runMultiInstance() : undefined;
  const summaries = summarise(
    runs,
    targets.map((t) => t.name),
    BASELINE,
  );
  const report = await writeResults(
    {
      summaries,
      pairs: comparePairs(runs),
      baseline: BASELINE,
      machine,
      sizes: options.sizes,
      repetitions: options.repetitions,
      idleRuns: options.scenarios.includes('idle-memory') ? options.idleRuns : 0,
      runningRounds: runs.some((r) => r.scenario === RUNNING_SCENARIO) ? options.runningRounds : 0,
      scenarios: options.scenarios,
      absent: missing.map((t) => t.name),
      startedAt,
      highestLoad: Math.max(machine.loadAverage, ...runs.map((r) => r.loadAverage)),
      minutes: (Date.now() - startedAt.getTime()) / 60_000,
    },
    runs,
    { publish: options.publish, extra, out: options.out },
  );
  console.log(`\n${report}`);
  const out = path.relative(process.cwd(), options.out ?? RESULTS);
  console.log(`Written: ${out}/report.md, ${out}/chart.svg${options.publish ? ', docs/' : ''}`);
  const anomalies = summaries.reduce((sum, s) => sum + totalAnomalies(s.anomalies), 0);
  const failed = runs.filter((r) => r.error).length;
  if (anomalies > 0) console.error(`FAIL: ${anomalies} gaps, duplicates or missing events`);
  if (failed > 0) console.error(`FAIL: ${failed} runs failed`);
  return anomalies > 0 || failed > 0 ? 1 : 0;
}

process.exitCode = await main();
