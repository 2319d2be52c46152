/**
 * THE SERVER CONTRACT. Every benchmark target (bench/servers/*.ts) follows it exactly, so the
 * load generator and the scenarios treat them all alike.
 *
 * - Runs as its own process: `node --expose-gc --import tsx bench/servers/<target>.ts`, with env
 *   PORT (plus target-specific env such as HTTP_ADAPTER=express|fastify, MERIDIAN_PIPELINE).
 *   Listens on 127.0.0.1:PORT and prints exactly one stdout line `listening <port>` when ready.
 *   BENCH_SCENARIOS, when set, lists the scenarios the process will run (comma-separated): a
 *   target may leave out what none of them uses (meridian opens its database only for
 *   `storm-database`), as what a process holds in memory makes its garbage collections dearer.
 * - Events flow on named channels (`[a-z0-9-]{1,64}`), each with its own sequence starting at 1,
 *   so one server process can run every scenario, each on a channel of its own.
 *   `POST /channels/<name>` opens a channel (204; again: 204, nothing changes). Targets that
 *   answer unknown streams with 404 need it before the first client; the others open channels
 *   on first use as well.
 * - `GET /sse/<name>`: the SSE stream of that channel. A `Last-Event-ID` header resumes after that
 *   id where the target supports it (raw-node, meridian). Each event is at least
 *   `id: <id>\ndata: <json>\n\n`; targets may add `event:` lines, comments (heartbeats) and
 *   id-only blocks, so clients parse SSE generally. The JSON is
 *   `{"n":<1-based sequence>,"t":<ms since epoch, float>,"p":"<padding>"}`, padded so the data is
 *   `size` bytes (see eventData).
 * - `POST /publish?channel=<name>&count=N&size=B&rate=R`: answers 202 at once, then emits N events
 *   on the channel through its producer (createProducer): R events per second spread evenly, or
 *   as fast as possible when R is 0 (batches of 100, then setImmediate). `n` continues across
 *   publishes on a channel.
 * - `GET /stats?gc=1`: JSON `{ "rss", "heapUsed", "connections" }` (global.gc() first when asked;
 *   connections = open SSE clients of every channel).
 * - `POST /persist?channel=<name>`: meridian only (persist the channel's stream to the database and
 *   clear its memory buffer, so a reconnect storm is served from the database). Every other
 *   target answers 404.
 *
 * Every target hands the shared producer one function, `emit(n, data)`, and does with it what a
 * user of that stack would do (frame once, broadcast, Subject.next, ...).
 */

import http from 'node:http';
import { epochNow } from '../clock.js';

export type Emit = (n: number, data: string) => void;

export interface PublishRequest {
  channel: string;
  count: number;
  size: number;
  /** Events per second; 0 = as fast as possible. */
  rate: number;
}

export interface ServerStats {
  rss: number;
  heapUsed: number;
  connections: number;
}

/** Events emitted per event-loop turn when publishing at rate 0. */
const BATCH = 100;

const paddings = new Map<number, string>();

function padding(length: number): string {
  let text = paddings.get(length);
  if (text === undefined) {
    text = 'x'.repeat(length);
    paddings.set(length, text);
  }
  return text;
}

/** The JSON data of event n, padded to `size` bytes (never shorter than the unpadded JSON). */
export function eventData(n: number, size: number): string {
  const head = `{"n":${n},"t":${epochNow()},"p":"`;
  return `${head}${padding(Math.max(0, size - head.length - 2))}"}`;
}

/**
 * The producer every target shares, so all of them emit the same events at the same pace. `n`
 * continues across publishes; publishes that overlap interleave their events.
 */
export function createProducer(emit: Emit): { publish(request: PublishRequest): void } {
  let sequence = 0;
  const next = (size: number) => {
    sequence++;
    emit(sequence, eventData(sequence, size));
  };

  function asFastAsPossible({ count, size }: PublishRequest): void {
    let left = count;
    const batch = () => {
      for (let i = 0; i < BATCH && left > 0; i++, left--) next(size);
      if (left > 0) setImmediate(batch);
    };
    // The 202 goes out first; the first batch runs on the next turn.
    setImmediate(batch);
  }

  function atRate({ count, size, rate }: PublishRequest): void {
    const interval = 1000 / rate;
    const start = performance.now();
    let sent = 0;
    // Each event is due at start + i * interval; a late timer emits everything already due, so
    // lateness never accumulates the way chained setInterval drift does.
    const tick = () => {
      const now = performance.now();
      while (sent < count && start + sent * interval <= now) {
        next(size);
        sent++;
      }
      if (sent < count) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    setTimeout(tick, 0);
  }

  return {
    publish: (request) => (request.rate > 0 ? atRate(request) : asFastAsPossible(request)),
  };
}

const CHANNEL_NAME = /^[a-z0-9-]{1,64}$/;

/** The channel name, or an Error naming the rule it breaks. */
export function checkChannel(name: unknown): string {
  if (typeof name !== 'string' || !CHANNEL_NAME.test(name)) throw new Error(`bad channel ${String(name)}`);
  return name;
}

/** Reads channel, count, size and rate from a query string (or URLSearchParams-like source). */
export function parsePublishQuery(query: URLSearchParams | Record<string, unknown>): PublishRequest {
  const get = (key: string) => (query instanceof URLSearchParams ? query.get(key) : query[key]);
  const number = (key: string, fallback: number) => {
    const value = Number(get(key) ?? fallback);
    if (!Number.isFinite(value) || value < 0) throw new Error(`bad ${key}`);
    return value;
  };
  return {
    channel: checkChannel(get('channel')),
    count: number('count', 1),
    size: number('size', 100),
    rate: number('rate', 0),
  };
}

/**
 * A target's channels by name, each made on first use by `open(name)`: whatever the target keeps
 * per channel (clients, a Subject, a stream) plus the shared producer that feeds it.
 */
export class Channels<T> {
  private readonly byName = new Map<string, { state: T; producer: ReturnType<typeof createProducer> }>();

  constructor(
    private readonly create: (name: string) => T,
    private readonly emitOn: (state: T) => Emit,
  ) {}

  /** The channel's state, made if it does not exist yet. */
  open(name: string): T {
    return this.entry(checkChannel(name)).state;
  }

  publish(request: PublishRequest): void {
    this.entry(request.channel).producer.publish(request);
  }

  get(name: string): T | undefined {
    return this.byName.get(name)?.state;
  }

  values(): T[] {
    return [...this.byName.values()].map((entry) => entry.state);
  }

  private entry(name: string) {
    let found = this.byName.get(name);
    if (!found) {
      const state = this.create(name);
      found = { state, producer: createProducer(this.emitOn(state)) };
      this.byName.set(name, found);
    }
    return found;
  }
}

/** What GET /stats answers; collects garbage first when asked (the process runs with --expose-gc). */
export function serverStats(connections: number, gc: boolean): ServerStats {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) collect();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed, connections };
}

/** The port from env PORT. */
export function portFromEnv(): number {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error('env PORT is required');
  return port;
}

/** The one line the runner waits for. */
export function announceListening(port: number): void {
  process.stdout.write(`listening ${port}\n`);
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
} as const;

/** What a target built on plain node:http provides; `serveNodeHttp` does the routing. */
export interface NodeHttpTarget {
  /** Opens the channel (made on first use). */
  open(channel: string): void;
  /** Serves GET /sse/<channel>; the channel is open already. */
  follow(channel: string, request: http.IncomingMessage, response: http.ServerResponse): void | Promise<void>;
  publish(request: PublishRequest): void;
  /** Open SSE clients of every channel. */
  connections(): number;
}

/** Starts a node:http server on env PORT that routes the contract above to `target`. */
export function serveNodeHttp(target: NodeHttpTarget): void {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const [, head, name, rest] = url.pathname.split('/');
    try {
      if (request.method === 'GET' && head === 'sse' && rest === undefined) {
        target.open(name);
        return void Promise.resolve(target.follow(name, request, response)).catch(() => response.destroy());
      }
      if (request.method === 'POST' && head === 'channels' && rest === undefined) {
        target.open(name);
        return void response.writeHead(204).end();
      }
      if (request.method === 'POST' && url.pathname === '/publish') {
        target.publish(parsePublishQuery(url.searchParams));
        return void response.writeHead(202).end();
      }
      if (request.method === 'GET' && url.pathname === '/stats') {
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end(JSON.stringify(serverStats(target.connections(), url.searchParams.get('gc') === '1')));
      }
      response.writeHead(404).end();
    } catch (error) {
      response.writeHead(400).end(String(error));
    }
  });
  const port = portFromEnv();
  server.listen(port, '127.0.0.1', () => announceListening(port));
}
