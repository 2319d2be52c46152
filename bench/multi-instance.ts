/**
 * The multi-instance path (three sample-app processes sharing streams through Redis) beside the
 * single-instance path (one process, no Redis), in one run, alternating, 3 repetitions each:
 *   - latency: 300 clients (spread over the instances) of a stream at 50 events/s, p50 and p99
 *     from the producer's send time `t` to receipt;
 *   - throughput: 30 clients of a stream sent as fast as the producer can (one event per
 *     event-loop turn), deliveries per second;
 *   - Redis commands per event (INFO commandstats), for the Redis runs.
 * Every run also counts events out of order (gaps or duplicates): it must be zero.
 * Then the scale scenario (bench/multi-scale.ts): many concurrent streams at 10 events/s, each
 * read on an instance other than its producer, beside one instance serving the same load.
 *
 *   npm run bench:multi [-- --scenario=classic|scale] [scale options, see bench/multi-scale.ts]
 *
 * Redis: a private redis-server on a free port (so that INFO commandstats counts only this run),
 * or the server at REDIS_URL when it is set (its counters then include whatever else uses it).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { PrivateRedis } from '../test/support/private-redis.js';
import { spawnSampleApp, type SpawnedApp } from '../test/support/spawned-app.js';
import { parseScaleOptions, runScale, writeScaleResult } from './multi-scale.js';
import { median, percentile, readStream } from './sse-client.js';

let REDIS_URL = process.env.REDIS_URL ?? '';

async function start(mode: 'single' | 'redis'): Promise<SpawnedApp[]> {
  const env: Record<string, string> = { HEARTBEAT_MS: '0' };
  if (mode === 'redis') Object.assign(env, { REDIS_URL, REDIS_PREFIX: `bench:${randomBytes(3).toString('hex')}:` });
  const count = mode === 'redis' ? 3 : 1;
  const apps = [];
  for (let i = 0; i < count; i++) apps.push(await spawnSampleApp(env));
  return apps;
}

async function commandCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  return [...info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[2]), 0);
}

async function scenario(apps: SpawnedApp[], clients: number, body: object, admin: Redis | undefined) {
  const created = (await (
    await fetch(`${apps[0].baseUrl}/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, startDelayMs: 1_000 }),
    })
  ).json()) as { stream_url: string };
  const before = admin ? await commandCalls(admin) : 0;
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: clients }, (_, i) =>
      readStream(`${apps[i % apps.length].baseUrl}${created.stream_url}`, { latencies: true }),
    ),
  );
  const seconds = (performance.now() - started) / 1000 - 1;
  const events = results[0].events;
  const latencies = results.flatMap((result) => result.latencies);
  return {
    events,
    deliveriesPerSecond: results.reduce((sum, result) => sum + result.events, 0) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    outOfOrder: results.reduce((sum, result) => sum + result.outOfOrder, 0),
    commandsPerEvent: admin ? ((await commandCalls(admin)) - before) / events : NaN,
  };
}

async function classic(): Promise<string> {
  const admin = new Redis(REDIS_URL);
  const rows: Record<string, Awaited<ReturnType<typeof scenario>>[]> = {};
  for (let repetition = 0; repetition < 3; repetition++) {
    for (const mode of ['single', 'redis'] as const) {
      const apps = await start(mode);
      try {
        const latency = await scenario(
          apps,
          300,
          { events: 250, intervalMs: 20, size: 100 },
          mode === 'redis' ? admin : undefined,
        );
        const throughput = await scenario(
          apps,
          30,
          { events: 20_000, intervalMs: 0, size: 100 },
          mode === 'redis' ? admin : undefined,
        );
        (rows[`${mode} latency`] ??= []).push(latency);
        (rows[`${mode} throughput`] ??= []).push(throughput);
        console.log(mode, JSON.stringify({ latency, throughput }));
      } finally {
        await Promise.all(apps.map((app) => app.stop()));
      }
    }
  }
  await admin.quit();
  const f = (n: number, digits = 1) => (Number.isNaN(n) ? '–' : n.toFixed(digits));
  const m = (key: string, pick: (r: Awaited<ReturnType<typeof scenario>>) => number) => median(rows[key].map(pick));
  const span = (key: string, pick: (r: Awaited<ReturnType<typeof scenario>>) => number, digits = 1) => {
    const values = rows[key].map(pick);
    return `${f(median(values), digits)} (${f(Math.min(...values), digits)}–${f(Math.max(...values), digits)})`;
  };
  const table = [
    `Multi-instance (3 processes + Redis) beside single-instance (1 process), median of 3 alternating runs (min–max); node ${process.version}, ${os.cpus().length} cores, everything on this machine.`,
    '',
    '| path | p50 latency, 300 clients at 50 ev/s | p99 | deliveries/s, 30 clients, max rate | Redis commands per event | events out of order |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...(['single', 'redis'] as const).map(
      (mode) =>
        `| ${mode === 'single' ? 'single instance' : 'three instances + Redis'} | ${span(`${mode} latency`, (r) => r.p50)} ms | ${span(`${mode} latency`, (r) => r.p99)} ms | ${span(`${mode} throughput`, (r) => r.deliveriesPerSecond, 0)} | ${mode === 'redis' ? span(`${mode} throughput`, (r) => r.commandsPerEvent, 2) : '–'} | ${m(`${mode} latency`, (r) => r.outOfOrder) + m(`${mode} throughput`, (r) => r.outOfOrder)} |`,
    ),
    '',
    'At 50 events/s each event is an append of its own (no batch), and INFO commandstats also counts the commands the append script runs:',
    `${f(
      m('redis latency', (r) => r.commandsPerEvent),
      1,
    )} Redis commands per event in the latency scenario.`,
    '',
    `Ratios (three instances / single): p50 ${f(m('redis latency', (r) => r.p50) / m('single latency', (r) => r.p50), 2)}x, p99 ${f(m('redis latency', (r) => r.p99) / m('single latency', (r) => r.p99), 2)}x, throughput ${f(m('redis throughput', (r) => r.deliveriesPerSecond) / m('single throughput', (r) => r.deliveriesPerSecond), 2)}x.`,
  ].join('\n');
  console.log(`\n${table}\n`);
  return table;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const scenario = args.find((arg) => arg.startsWith('--scenario='))?.split('=')[1] ?? 'all';
  if (!['all', 'classic', 'scale'].includes(scenario)) throw new Error('--scenario takes classic or scale');
  const tables: string[] = [];
  let failed = false;
  if (scenario !== 'scale') {
    const redis = REDIS_URL ? undefined : await new PrivateRedis().start();
    if (redis) REDIS_URL = redis.url;
    try {
      tables.push(await classic());
    } finally {
      await redis?.kill();
    }
  }
  if (scenario !== 'classic') {
    const result = await runScale(parseScaleOptions(args.filter((arg) => !arg.startsWith('--scenario='))));
    const table = writeScaleResult(result);
    console.log(`\n${table}\n`);
    tables.push(table);
    failed = result.failures.length > 0;
  }
  const out = path.resolve(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'multi-instance.md'), `${tables.join('\n\n')}\n`);
  if (failed) process.exitCode = 1;
}

await main();
