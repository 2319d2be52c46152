import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoadGeneratorPool } from './loadgen/pool.js';
import { connectionsMarkdown } from './report/connections-markdown.js';
import { describeMachine } from './report/machine.js';
import { RESULTS } from './report/write-results.js';
import type { RunOptions } from './run-options.js';
import { measureConnections, type ConnectionsStep } from './scenarios/connections.js';
import { BASELINE, selectTargets } from './targets.js';

/** The default recommended path: `@ResumableSse()` with the direct writer, on Fastify. */
const DEFAULT_TARGETS = ['meridian-direct-fastify'];

function describeStep(step: ConnectionsStep): string {
  const { gaps, duplicates, missing } = step.anomalies;
  return [
    `${step.target.padEnd(24)} ${String(step.connections).padStart(6)} conns`,
    `rss/conn=${(step.rssPerConnection / 1024).toFixed(1)}KiB heap/conn=${(step.heapPerConnection / 1024).toFixed(1)}KiB`,
    `cpu/event=${step.cpuPerEventUs.toFixed(2)}µs cpu server ${step.serverCpuPercent.toFixed(0)}% loadgen ${step.loadgenCpuPercent.toFixed(0)}%`,
    `idle=${step.idleCpuPerConnectionUs.toFixed(3)}µs/conn/s connect=${step.connectMs.toFixed(0)}ms`,
    `p50=${step.latency.p50.toFixed(1)}ms p99=${step.latency.p99.toFixed(1)}ms gaps/dups/missing=${gaps}/${duplicates}/${missing}`,
    ...step.notes,
  ].join(' ');
}

/**
 * `npm run bench -- --scenarios=connections`: the connections scenario (./scenarios/connections.ts)
 * on raw node and the default recommended path (or the targets of --only). Writes
 * <out>/connections-<time>.json and connections.md; returns the exit code (1 on any gap,
 * duplicate or missing event, or a failure).
 */
export async function runConnections(options: RunOptions): Promise<number> {
  const { targets } = selectTargets(options.only ?? DEFAULT_TARGETS);
  // The baseline first: at the first size, the others then pay for nothing it left.
  targets.sort((a, b) => Number(b.name === BASELINE) - Number(a.name === BASELINE));
  const startedAt = new Date();
  const machine = describeMachine();
  let highestLoad = machine.loadAverage;
  const pool = LoadGeneratorPool.start(options.connections.loadgens);
  let steps: ConnectionsStep[];
  try {
    steps = await measureConnections(targets, pool, options.connections, (step) => {
      highestLoad = Math.max(highestLoad, os.loadavg()[0]);
      console.log(describeStep(step));
    });
  } catch (error) {
    console.error(`FAIL: connections: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    pool.stop();
  }
  const markdown = connectionsMarkdown({
    steps,
    baseline: BASELINE,
    options: options.connections,
    machine,
    startedAt,
    minutes: (Date.now() - startedAt.getTime()) / 60_000,
    highestLoad,
  });
  const out = options.out ?? RESULTS;
  mkdirSync(out, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    path.join(out, `connections-${stamp}.json`),
    `${JSON.stringify({ options: options.connections, machine, steps }, null, 2)}\n`,
  );
  writeFileSync(path.join(out, 'connections.md'), markdown);
  console.log(`\n${markdown}`);
  console.log(`Written: ${path.relative(process.cwd(), out)}/connections.md`);
  const anomalies = steps.reduce((sum, s) => sum + s.anomalies.gaps + s.anomalies.duplicates + s.anomalies.missing, 0);
  if (anomalies > 0) console.error(`FAIL: ${anomalies} gaps, duplicates or missing events`);
  return anomalies > 0 ? 1 : 0;
}
