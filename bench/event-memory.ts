/**
 * What one buffered event costs in memory: heap plus array buffers held after GC, per event,
 * against the size of its SSE frame.
 *
 * Each run is a fresh process with --expose-gc: STREAMS streams each buffer EVENTS events of SIZE
 * bytes of data, sent in rounds (one event per stream per round, a turn of the event loop between
 * rounds), and then the process collects garbage and measures.
 *   - quiet: one client per stream reads every event on the direct path, and nothing else happens;
 *   - churn: the same, while other HTTP clients keep connecting to the streams, reading a few live
 *     events and leaving, and other small buffers are allocated and let go (a server's other work).
 * Retained per event is (heapUsed + arrayBuffers after GC, minus the same before the first
 * event) / events; the frame is the bytes of the event's SSE text (event:, id:, data: lines).
 *
 *   npm run bench:event-memory        (STREAMS=50 EVENTS=2000 SIZE=100 REPS=2 by default)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { formatSseMessage } from '../lib/core/sse-frame.js';
import { StreamRegistry } from '../lib/core/stream-registry.js';
import type { ResumableStream } from '../lib/core/stream.js';
import { NodeHttpConnection } from '../lib/http/node-http-connection.js';
import { serveStream } from '../lib/http/serve-stream.js';

const STREAMS = Number(process.env.STREAMS ?? 50);
const EVENTS = Number(process.env.EVENTS ?? 2000);
const SIZE = Number(process.env.SIZE ?? 100);
/** Clients connected at once under churn; each leaves after a few events and another comes. */
const CLIENTS = 40;
/** Bytes of the other work's allocations under churn, one per event sent. */
const OTHER_BYTES = 1000;
/** Runs of each mode, each a fresh process. */
const REPS = Number(process.env.REPS ?? 2);

type Mode = 'quiet' | 'churn';

interface Result {
  mode: Mode;
  events: number;
  frameBytes: number;
  heapPerEvent: number;
  arrayBuffersPerEvent: number;
  retainedPerEvent: number;
  bufferedBytes: number;
}

function measure(): { heap: number; arrayBuffers: number } {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  gc();
  const memory = process.memoryUsage();
  return { heap: memory.heapUsed, arrayBuffers: memory.arrayBuffers };
}

/** A client that reads `events` events of `stream` from the live end, then leaves. */
function visit(port: number, index: number, events: number): Promise<void> {
  return new Promise((resolve) => {
    const request = http.get({ port, path: `/${index}`, agent: false }, (response) => {
      let seen = 0;
      response.on('data', (chunk: Buffer) => {
        seen += chunk.toString().split('\n\n').length - 1;
        if (seen >= events) response.destroy();
      });
      response.on('close', resolve);
    });
    request.on('error', () => resolve());
  });
}

async function child(mode: Mode): Promise<Result> {
  const registry = new StreamRegistry({
    heartbeatMs: 0,
    retentionMs: 600_000,
    bufferMaxEvents: EVENTS,
    bufferMaxBytes: 1024 * 1024 * 1024,
  });
  const streams: ResumableStream[] = Array.from({ length: STREAMS }, () => registry.create());
  const server = http.createServer((request, response) => {
    const stream = streams[Number(request.url!.slice(1))];
    const connection = new NodeHttpConnection(response);
    const point = stream.admit(stream.lastEventId);
    connection.open();
    serveStream(stream, connection, point, { heartbeat: false });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const data = (round: number, index: number) => `${round}:${index}:`.padEnd(SIZE, 'x');
  // Everything a run needs is made once before the baseline (a warm-up round of connections too).
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => visit(port, i % STREAMS, 0)));
  const readers = streams.map((_, index) => visit(port, index, EVENTS));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const before = measure();
  const clients = new Set<Promise<void>>();
  let other: Buffer[] = [];
  let frameBytes = 0;
  for (let round = 0; round < EVENTS; round++) {
    for (let index = 0; index < STREAMS; index++) {
      streams[index].send({ data: data(round, index) });
      // A request body or a database row: a slice of Node's shared pool, let go a little later.
      if (mode === 'churn') other.push(Buffer.from(`other work ${round} ${index}`.padEnd(OTHER_BYTES)));
    }
    if (mode === 'churn') {
      while (clients.size < CLIENTS) {
        const client: Promise<void> = visit(port, (round * 7 + clients.size) % STREAMS, 3).then(() => {
          clients.delete(client);
        });
        clients.add(client);
      }
      // Other work lets its buffers go after a while.
      if (other.length > 1000) other = [];
    }
    await nextTurn();
  }
  other.length = 0;
  // The readers have what was sent once the sockets are quiet; every client leaves then.
  await new Promise((resolve) => setTimeout(resolve, 500));
  server.closeAllConnections();
  await Promise.all([...clients, ...readers]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = measure();
  for (const one of streams) {
    const last = one.eventAt(one.lastSequence)!;
    frameBytes = Buffer.byteLength(formatSseMessage(last));
  }
  const events = registry.stats().bufferedEvents;
  const result = {
    mode,
    events,
    frameBytes,
    heapPerEvent: (after.heap - before.heap) / events,
    arrayBuffersPerEvent: (after.arrayBuffers - before.arrayBuffers) / events,
    retainedPerEvent: (after.heap + after.arrayBuffers - before.heap - before.arrayBuffers) / events,
    bufferedBytes: registry.stats().bufferedBytes,
  };
  server.close();
  return result;
}

function runChild(mode: Mode): Promise<Result> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(import.meta.url);
    const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, `--child=${mode}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Result) : reject(new Error(`exit ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const childMode = process.argv.find((arg) => arg.startsWith('--child='))?.slice('--child='.length) as Mode;
  if (childMode) {
    console.log(JSON.stringify(await child(childMode)));
    process.exit(0);
  }
  const results: Result[] = [];
  const runs = Array.from({ length: REPS }, () => ['quiet', 'churn'] as const).flat();
  for (const mode of runs) {
    const result = await runChild(mode);
    results.push(result);
    console.log(JSON.stringify(result));
  }
  const f = (n: number) => Math.round(n).toLocaleString('en');
  const table = [
    `Memory per buffered event: ${STREAMS} streams of ${EVENTS.toLocaleString('en')} events of ${SIZE} B data, after GC (node ${process.version}, ${os.cpus().length} cores)`,
    '',
    '| run | events | frame | heap per event | array buffers per event | retained per event | ratio to frame | goal (1.5x frame + 64 B) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.mode} | ${r.events.toLocaleString('en')} | ${r.frameBytes} B | ${f(r.heapPerEvent)} B | ${f(r.arrayBuffersPerEvent)} B | ${f(r.retainedPerEvent)} B | ${(r.retainedPerEvent / r.frameBytes).toFixed(2)}x | ${f(1.5 * r.frameBytes + 64)} B |`,
    ),
  ].join('\n');
  console.log(`\n${table}\n`);
  const out = path.resolve(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'event-memory.md'), `${table}\n`);
}

await main();
