/**
 * Catch-up of 100,000 persisted events to one client: does server memory stay flat?
 *
 * Runs the built sample app (`npm run build && npm run build:sample` first) as its own process
 * with --expose-gc, twice in one run:
 *   - database: the stream was persisted and cleared, so the whole catch-up is read from the
 *     database in pages (SQLite by default; PostgreSQL with DATABASE_URL=postgres://...);
 *   - memory (baseline): the replay buffer holds all 100,000 events and serves them.
 * One client reads the whole stream over HTTP while the server's live heap is sampled (after a
 * forced GC, every 100 ms). A database run with 3x the events shows whether memory grows with
 * the length of the stream.
 *
 *   npm run bench:catchup            (EVENTS=100000 SIZE=100 by default)
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSampleApp, type SpawnedApp } from '../test/support/spawned-app.js';
import { readStream } from './sse-client.js';

const EVENTS = Number(process.env.EVENTS ?? 100_000);
const SIZE = Number(process.env.SIZE ?? 100);
const MiB = 1024 * 1024;

interface Memory {
  heapUsed: number;
  rss: number;
}

async function stats(app: SpawnedApp, gc = false): Promise<{ memory: Memory; byState: Record<string, number> }> {
  return (await (await fetch(`${app.baseUrl}/stats${gc ? '?gc=1' : ''}`)).json()) as never;
}

async function run(mode: 'database' | 'memory', databaseUrl: string, events: number) {
  const env: Record<string, string> = { DATABASE_URL: databaseUrl, RETENTION_MS: '600000', HEARTBEAT_MS: '0' };
  if (mode === 'memory')
    Object.assign(env, { BUFFER_MAX_EVENTS: String(events + 10), BUFFER_MAX_BYTES: String(1024 * MiB) });
  const app = await spawnSampleApp(env, ['--expose-gc']);
  try {
    const created = (await (
      await fetch(`${app.baseUrl}/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events, size: SIZE, intervalMs: 0 }),
      })
    ).json()) as { stream_id: string };
    const url = `${app.baseUrl}/streams/${created.stream_id}`;
    while ((await stats(app)).byState.completed !== 1) await new Promise((resolve) => setTimeout(resolve, 100));
    if (mode === 'database') await fetch(`${url}/persist`, { method: 'POST' });
    const baseline = (await stats(app, true)).memory;
    const samples: Memory[] = [];
    let reading = true;
    const sampler = (async () => {
      while (reading) {
        samples.push((await stats(app, true)).memory);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const started = performance.now();
    const result = await readStream(url);
    const seconds = (performance.now() - started) / 1000;
    reading = false;
    await sampler;
    const after = (await stats(app, true)).memory;
    const peakHeap = Math.max(...samples.map((s) => s.heapUsed));
    const peakRss = Math.max(...samples.map((s) => s.rss));
    return {
      mode,
      events: result.events,
      wireMiB: result.bytes / MiB,
      seconds,
      eventsPerSecond: result.events / seconds,
      baselineHeapMiB: baseline.heapUsed / MiB,
      peakLiveHeapGrowthMiB: (peakHeap - baseline.heapUsed) / MiB,
      heapAfterGcGrowthMiB: (after.heapUsed - baseline.heapUsed) / MiB,
      baselineRssMiB: baseline.rss / MiB,
      peakRssGrowthMiB: (peakRss - baseline.rss) / MiB,
      samples: samples.length,
    };
  } finally {
    await app.stop();
  }
}

async function main(): Promise<void> {
  const folder = mkdtempSync(path.join(tmpdir(), 'meridian-bench-'));
  const database = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined;
  try {
    const results = [];
    // Alternating repetitions, each on a fresh process and database file.
    const runs = [
      ['database', EVENTS],
      ['memory', EVENTS],
      ['database', 3 * EVENTS],
      ['database', EVENTS],
      ['memory', EVENTS],
    ] as const;
    for (const [index, [mode, events]] of runs.entries()) {
      const url = database ?? `sqlite:${path.join(folder, `run-${index}.sqlite`)}`;
      const result = await run(mode, url, events);
      results.push(result);
      console.log(JSON.stringify(result));
    }
    const f = (n: number) => n.toFixed(1);
    const table = [
      `Catch-up of a stream of ${SIZE} B events to one client over HTTP (${database ? 'PostgreSQL' : 'SQLite'}, node ${process.version}, ${os.cpus().length} cores)`,
      '',
      '| served from | events | on the wire | events/s | live heap before | live heap growth, peak | after, GC | RSS growth, peak |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...results.map(
        (r) =>
          `| ${r.mode} | ${r.events.toLocaleString('en')} | ${f(r.wireMiB)} MiB | ${Math.round(r.eventsPerSecond).toLocaleString('en')} | ${f(r.baselineHeapMiB)} MiB | ${f(r.peakLiveHeapGrowthMiB)} MiB | ${f(r.heapAfterGcGrowthMiB)} MiB | ${f(r.peakRssGrowthMiB)} MiB |`,
      ),
    ].join('\n');
    console.log(`\n${table}\n`);
    const out = path.resolve(import.meta.dirname, 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'catchup-memory.md'), `${table}\n`);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

await main();
