/**
 * Soak (issue 7): does the server stay flat and leak nothing under connection churn?
 *
 * Runs the built sample app (`npm run build && npm run build:sample` first) as its own process
 * with --expose-gc and a SQLite file of its own: 100 streams running (each replaced when it
 * finishes), 2,000 client connections opening and closing in churn, 100,000 connection cycles in
 * total, every reconnect resuming with Last-Event-ID (some from the database, after
 * persist-and-clear) and checked to continue exactly. Heap and RSS after GC are sampled at the
 * start, at 10% and 50% of the load (paused, no client connected), at its end, and once every
 * stream has drained. Prints a Markdown table and exits non-zero when a client got a gap or a
 * duplicate, anything leaked (registry clients or streams not back to 0, more active sockets or
 * timers than at the start), or memory grew past the tolerance: heapUsed after GC from the start
 * to the end and from 10% to 100% of the load (10 MiB), RSS from 10% of the load (when the
 * process has held the full churn once) to the end (48 MiB).
 *
 *   npx tsx bench/soak.ts
 *   SOAK_CYCLES=20000 SOAK_CONNECTIONS=500 npx tsx bench/soak.ts      (smaller)
 *
 * The app's own output goes to artifacts/soak/soak-app-output.log (git-ignored).
 *
 * Environment: SOAK_STREAMS (100), SOAK_CONNECTIONS (2000), SOAK_CYCLES (100000),
 * SOAK_MAX_CONNECTING (256: connection attempts waiting for their answer at once),
 * SOAK_HEAP_TOLERANCE_MIB (10), SOAK_RSS_TOLERANCE_MIB (48), SOAK_MAX_MINUTES (8), SOAK_SEED (1).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { runSoak } from '../test/support/fault-soak.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '../artifacts/soak');
mkdirSync(ARTIFACTS, { recursive: true });

const number = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0, got "${raw}".`);
  return value;
};

const startedAt = Date.now();
const report = await runSoak({
  streams: number('SOAK_STREAMS', 100),
  connections: number('SOAK_CONNECTIONS', 2_000),
  cycles: number('SOAK_CYCLES', 100_000),
  streamEvents: 100,
  streamIntervalMs: 200,
  holdMs: [500, 3_500],
  pauseMs: [0, 300],
  abandonShare: 0.05,
  persistAndClearEveryMs: 250,
  heartbeatMs: 1_000,
  maxConnecting: number('SOAK_MAX_CONNECTING', 256),
  retentionMs: 3_000,
  heapToleranceMiB: number('SOAK_HEAP_TOLERANCE_MIB', 10),
  rssToleranceMiB: number('SOAK_RSS_TOLERANCE_MIB', 48),
  maxDurationMs: number('SOAK_MAX_MINUTES', 8) * 60_000,
  seed: number('SOAK_SEED', 1),
  appOutputFile: path.join(ARTIFACTS, 'soak-app-output.log'),
  log: (line) => console.error(`[soak ${((Date.now() - startedAt) / 1000).toFixed(0)} s] ${line}`),
});
console.log(report.markdown);
process.exitCode = report.ok ? 0 : 1;
