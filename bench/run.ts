/**
 * The benchmark of issue 6: every target (bench/targets.ts) through every scenario
 * (bench/scenarios/), a fresh server process each time, the load generator in its own process.
 * Repetitions rotate the target order; figures are medians with min and max, and ratios to
 * raw node:http of the same repetition. Writes bench/results/ (and docs/ with --publish), prints
 * the table, exits non-zero if any client saw a gap or a duplicate, or a run failed.
 *
 *   npm run bench                      (3 repetitions, a few minutes for the baselines)
 *   npx tsx bench/run.ts --quick       (1 small repetition, a smoke test)
 */
import os from 'node:os';
import { staleBuildWarning } from './library-build.js';
import { LoadGenerator } from './loadgen/remote.js';
import { describeMachine } from './report/machine.js';
import { summarise, totalAnomalies, type RunRecord } from './report/summary.js';
import { writeResults } from './report/write-results.js';
import { parseOptions } from './run-options.js';
import { runMultiInstance } from './run-multi-instance.js';
import { SCENARIOS } from './scenarios/index.js';
import type { Sizes } from './scenarios/scenario.js';
import { ServerProcess } from './server-process.js';
import { BASELINE, selectTargets, type Target } from './targets.js';

async function runOne(
  loadgen: LoadGenerator,
  target: Target,
  scenario: string,
  sizes: Sizes,
  repetition: number,
): Promise<RunRecord> {
  const started = performance.now();
  const record: RunRecord = { repetition, scenario, target: target.name, seconds: 0, loadAverage: 0 };
  let server: ServerProcess | undefined;
  try {
    server = await ServerProcess.start(target);
    record.result = await SCENARIOS[scenario]({ target, server, loadgen, sizes });
  } catch (error) {
    const tail = server?.tail().trim();
    record.error = `${error instanceof Error ? error.message : String(error)}${tail ? `\nserver output:\n${tail}` : ''}`;
    await loadgen.call('closeAll', {}).catch(() => undefined);
  } finally {
    await server?.stop();
  }
  record.seconds = (performance.now() - started) / 1000;
  record.loadAverage = os.loadavg()[0];
  return record;
}

function describe(record: RunRecord): string {
  const head = `rep ${record.repetition + 1} ${record.scenario.padEnd(14)} ${record.target.padEnd(24)}`;
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
  const { targets, missing } = selectTargets(options.only);
  for (const target of missing) console.log(`skipping ${target.name}: ${target.file} does not exist yet`);
  const stale = targets.some((t) => t.name.startsWith('meridian')) ? staleBuildWarning() : undefined;
  if (stale) console.warn(`warning: ${stale}`);
  const startedAt = new Date();
  const machine = describeMachine();
  const loadgen = LoadGenerator.start();
  const runs: RunRecord[] = [];
  try {
    for (let repetition = 0; repetition < options.repetitions; repetition++) {
      // Rotating the order each repetition spreads warm-up and machine noise over every target.
      const order = targets.map((_, i) => targets[(i + repetition) % targets.length]);
      for (const scenario of options.scenarios) {
        for (const target of order) {
          // What did not apply to a target once (no resume, no database) will not in later
          // repetitions either: no server is started for it again.
          const earlier = runs.find((r) => r.scenario === scenario && r.target === target.name && r.result?.skipped);
          const record = earlier
            ? { ...earlier, repetition, seconds: 0, loadAverage: os.loadavg()[0] }
            : await runOne(loadgen, target, scenario, options.sizes, repetition);
          runs.push(record);
          console.log(describe(record));
        }
      }
    }
  } finally {
    loadgen.stop();
  }
  const extra = options.multi ? await runMultiInstance() : undefined;
  const summaries = summarise(
    runs,
    targets.map((t) => t.name),
    BASELINE,
  );
  const report = writeResults(
    {
      summaries,
      baseline: BASELINE,
      machine,
      sizes: options.sizes,
      repetitions: options.repetitions,
      scenarios: options.scenarios,
      absent: missing.map((t) => t.name),
      startedAt,
      highestLoad: Math.max(machine.loadAverage, ...runs.map((r) => r.loadAverage)),
      minutes: (Date.now() - startedAt.getTime()) / 60_000,
    },
    runs,
    { publish: options.publish, extra },
  );
  console.log(`\n${report}`);
  console.log('Written: bench/results/report.md, bench/results/chart.svg' + (options.publish ? ', docs/' : ''));
  const anomalies = summaries.reduce((sum, s) => sum + totalAnomalies(s.anomalies), 0);
  const failed = runs.filter((r) => r.error).length;
  if (anomalies > 0) console.error(`FAIL: ${anomalies} gaps, duplicates or missing events`);
  if (failed > 0) console.error(`FAIL: ${failed} runs failed`);
  return anomalies > 0 || failed > 0 ? 1 : 0;
}

process.exitCode = await main();
