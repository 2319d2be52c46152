import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, ROOT, spawnSampleApp, waitUntilHealthy } from '../support/spawned-app.js';

/*
 * Helpers of the memory suites (issue 20): the server under test as its own process started with
 * --expose-gc, so that the live heap measured is the server's alone; an SSE reader that reads a
 * stream to its final event without keeping the data; raw HTTP clients that stop reading.
 */

export const MiB = 1024 * 1024;

/** Bytes as MiB with one decimal, for messages. */
export const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

export type AdapterName = 'express' | 'fastify';
export type PipelineName = 'direct' | 'nest';

export interface MemoryServer {
  readonly baseUrl: string;
  readonly port: number;
  /** Path of the SSE route of this server's pipeline for a stream. */
  ssePath(streamId: string): string;
  output(): string;
  stop(): Promise<void>;
}

const NEST_APP = path.join(ROOT, 'test/memory/nest-pipeline-app.ts');
const NEST_APP_TSCONFIG = path.join(ROOT, 'test/memory/tsconfig.app.json');

/**
 * The server of one combination, on a SQLite file of its own (deleted by stop()):
 * - `direct`: the built sample app unchanged (sample-app/dist/main.js), whose `GET /streams/:id`
 *   is `@ResumableSse(':id')`;
 * - `nest`: test/memory/nest-pipeline-app.ts under tsx, the sample app's module plus
 *   `GET /nest-streams/:id`, `@ResumableSse(':id', { pipeline: 'nest' })`.
 * Both with the sample app's streaming options, which keep the library's defaults for the buffer
 * (bufferMaxBytes 16 MiB), client backlogs and history pages.
 */
export async function startMemoryServer(adapter: AdapterName, pipeline: PipelineName): Promise<MemoryServer> {
  const folder = mkdtempSync(path.join(tmpdir(), 'meridian-memory-'));
  const databaseUrl = `sqlite:${path.join(folder, 'events.sqlite')}`;
  const remove = () => rmSync(folder, { recursive: true, force: true });
  try {
    if (pipeline === 'direct') {
      const app = await spawnSampleApp({ HTTP_ADAPTER: adapter, DATABASE_URL: databaseUrl }, ['--expose-gc']);
      return {
        baseUrl: app.baseUrl,
        port: Number(new URL(app.baseUrl).port),
        ssePath: (id) => `/streams/${id}`,
        output: app.output,
        stop: async () => {
          await app.stop();
          remove();
        },
      };
    }
    const port = await freePort();
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', NEST_APP], {
      cwd: ROOT,
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: NEST_APP_TSCONFIG,
        HTTP_ADAPTER: adapter,
        DATABASE_URL: databaseUrl,
        REDIS_URL: '',
        PORT: String(port),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitUntilHealthy(child, baseUrl, () => output, 30_000);
    return {
      baseUrl,
      port,
      ssePath: (id) => `/nest-streams/${id}`,
      output: () => output,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        remove();
      },
    };
  } catch (error) {
    remove();
    throw error;
  }
}

/** The sample app's GET /stats: registry stats plus process.memoryUsage(). */
export interface ServerStats {
  streams: number;
  clients: number;
  bufferedEvents: number;
  bufferedBytes: number;
  slowClientDisconnects: number;
  /** Clients connected since start, by where their first event came from. */
  catchup: { live: number; buffer: number; store: number; reset: number };
  gcAvailable: boolean;
  memory: NodeJS.MemoryUsage;
}

export async function serverStats(server: MemoryServer, gc = false): Promise<ServerStats> {
  const response = await fetch(`${server.baseUrl}/stats${gc ? '?gc=1' : ''}`);
  if (!response.ok) throw new Error(`GET /stats: ${response.status}`);
  return (await response.json()) as ServerStats;
}

/** Live memory of the server after forced garbage collections. */
export interface LiveMemory {
  /** heapUsed + arrayBuffers: what the suites compare. */
  readonly bytes: number;
  readonly heapUsed: number;
  readonly arrayBuffers: number;
}

/** The server's live memory: heapUsed + arrayBuffers after forced garbage collections (two rounds, to settle). */
export async function liveMemory(server: MemoryServer): Promise<LiveMemory> {
  await serverStats(server, true);
  const stats = await serverStats(server, true);
  if (!stats.gcAvailable) throw new Error('the server runs without --expose-gc');
  const { heapUsed, arrayBuffers } = stats.memory;
  return { bytes: heapUsed + arrayBuffers, heapUsed, arrayBuffers };
}

/** What grew between two readings, for messages: `+X MiB (heap +Y, arrayBuffers +Z)`. */
export function growth(from: LiveMemory, to: LiveMemory): string {
  const signed = (bytes: number) => `${bytes < 0 ? '' : '+'}${mib(bytes)}`;
  return (
    `${signed(to.bytes - from.bytes)} MiB ` +
    `(heap ${signed(to.heapUsed - from.heapUsed)}, arrayBuffers ${signed(to.arrayBuffers - from.arrayBuffers)})`
  );
}

/** Live memory once it has stopped moving: two readings 500 ms apart within 1 MiB (at most `timeoutMs`). */
export async function settledLiveMemory(server: MemoryServer, timeoutMs = 15_000): Promise<LiveMemory> {
  const deadline = Date.now() + timeoutMs;
  let previous = await liveMemory(server);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const current = await liveMemory(server);
    if (Math.abs(current.bytes - previous.bytes) < MiB || Date.now() > deadline) return current;
    previous = current;
  }
}

export async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** POST /streams (the sample's demo producer): returns the stream id. */
export async function createStream(
  server: MemoryServer,
  body: { events: number; intervalMs: number; size: number },
): Promise<string> {
  const response = await fetch(`${server.baseUrl}/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`POST /streams: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { stream_id: string }).stream_id;
}

/** POST /streams/:id/persist: persist-and-clear. */
export async function persistAndClear(
  server: MemoryServer,
  id: string,
): Promise<{ persisted: number; cleared: number }> {
  const response = await fetch(`${server.baseUrl}/streams/${id}/persist`, { method: 'POST' });
  if (response.status !== 200) throw new Error(`POST /streams/${id}/persist: ${response.status}`);
  return (await response.json()) as { persisted: number; cleared: number };
}

/** DELETE /streams/:id: cancel (a finished stream stays retained). */
export async function deleteStream(server: MemoryServer, id: string): Promise<void> {
  const response = await fetch(`${server.baseUrl}/streams/${id}`, { method: 'DELETE' });
  if (response.status !== 200) throw new Error(`DELETE /streams/${id}: ${response.status}`);
}

const FINAL_TYPES = new Set(['done', 'error', 'cancelled']);

/**
 * Reads only the `event:` and `id:` lines of an SSE response; data lines (a megabyte each here)
 * are skipped as they pass, never held.
 */
class FrameScanner {
  /** Start of the current line (the first 128 bytes are enough for `event:` and `id:`). */
  private head = Buffer.alloc(0);
  private blockType?: string;
  private blockHasData = false;
  lastEventId?: string;
  /** `text_delta` events received. */
  textDeltas = 0;
  finalType?: string;
  reset = false;

  feed(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      const end = newline < 0 ? chunk.length : newline;
      if (this.head.length < 128) {
        this.head = Buffer.concat([this.head, chunk.subarray(start, Math.min(end, start + 128 - this.head.length))]);
      }
      if (newline < 0) return;
      this.line(this.head.toString('latin1').replace(/\r$/, ''));
      this.head = Buffer.alloc(0);
      start = newline + 1;
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.blockHasData) {
        const type = this.blockType ?? 'message';
        if (type === 'text_delta') this.textDeltas++;
        if (type === 'reset') this.reset = true;
        if (FINAL_TYPES.has(type)) this.finalType = type;
      }
      this.blockType = undefined;
      this.blockHasData = false;
    } else if (line.startsWith('event: ')) this.blockType = line.slice('event: '.length);
    else if (line.startsWith('id: ')) this.lastEventId = line.slice('id: '.length);
    else if (line.startsWith('data:')) this.blockHasData = true;
  }
}

/**
 * Reads a stream until its final event, as EventSource would: a connection the server cuts (a
 * reader that fell too far behind) is resumed with Last-Event-ID. Returns what it saw.
 */
export async function readToFinalEvent(
  server: MemoryServer,
  id: string,
  maxConnections = 50,
): Promise<{ finalType: string; textDeltas: number; connections: number }> {
  const scanner = new FrameScanner();
  for (let connections = 1; connections <= maxConnections; connections++) {
    await new Promise<void>((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (scanner.lastEventId !== undefined) headers['last-event-id'] = scanner.lastEventId;
      const request = http.get(`${server.baseUrl}${server.ssePath(id)}`, { headers, agent: false }, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`GET ${server.ssePath(id)}: ${response.statusCode}`));
          return;
        }
        response.on('data', (chunk: Buffer) => scanner.feed(chunk));
        response.on('close', () => resolve());
      });
      request.on('error', (error) => (connections > 1 ? resolve() : reject(error)));
    });
    if (scanner.reset) throw new Error(`the reader of ${id} was sent a reset: it lost its place`);
    if (scanner.finalType !== undefined) {
      return { finalType: scanner.finalType, textDeltas: scanner.textDeltas, connections };
    }
  }
  throw new Error(`no final event of ${id} within ${maxConnections} connections (${scanner.textDeltas} events)`);
}

/**
 * A raw HTTP client of an SSE route that reads the response head and the start of the first
 * event, then stops reading: its socket is paused, so the server's writes back up.
 */
export class StalledReader {
  private constructor(
    private readonly socket: net.Socket,
    /** Bytes read before it stopped. */
    readonly bytesRead: number,
  ) {}

  static open(server: MemoryServer, requestPath: string): Promise<StalledReader> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      let received = Buffer.alloc(0);
      const fail = (error: Error) => {
        socket.destroy();
        reject(error);
      };
      socket.once('error', fail);
      socket.on('connect', () => {
        socket.write(
          `GET ${requestPath} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\n\r\n`,
        );
      });
      const onData = (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const headEnd = received.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const statusLine = received.toString('latin1', 0, received.indexOf('\r\n'));
        if (!/^HTTP\/1\.1 200 /.test(statusLine)) return fail(new Error(`GET ${requestPath}: ${statusLine}`));
        // The first event has begun: stop reading for good.
        if (received.indexOf('\nevent: ', headEnd) < 0) return;
        socket.pause();
        socket.off('data', onData);
        socket.off('error', fail);
        socket.on('error', () => undefined);
        resolve(new StalledReader(socket, received.length));
      };
      socket.on('data', onData);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
