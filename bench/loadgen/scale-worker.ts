/**
 * The scale scenario's load generator (bench/multi-scale.ts forks it, `node --import tsx`):
 * creates streams on the sample app (POST /streams) and reads each with one SSE client on a raw
 * socket, keeping only totals per group (events, gaps, duplicates, latencies), so thousands of
 * clients cost little more than their sockets. Commands over IPC: see ./scale-protocol.ts.
 */
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { epochNow } from '../clock.js';
import { ChunkedDecoder, ResponseHeadReader } from './http-response.js';
import type {
  CommandName,
  Commands,
  LatencySummary,
  OpenArgs,
  OpenResult,
  Reply,
  Request,
  ScaleReport,
  WaitArgs,
  WaitResult,
} from './scale-protocol.js';
import { SseParser } from './sse-parser.js';

const INDEX_FIELD = '"index":';
const T_FIELD = '"t":';
/** A server that accepted but never answered is broken, not slow. */
const HEAD_TIMEOUT_MS = 30_000;
/** Events that end a stream (the library's defaults). */
const FINAL_TYPES = new Set(['done', 'error', 'cancelled', 'producer_lost']);

/** A growable array of doubles: hundreds of thousands of latencies without boxing each one. */
class Samples {
  private values = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  summary(): LatencySummary {
    if (this.length === 0) return { samples: 0, p50: NaN, p99: NaN, max: NaN };
    const sorted = this.values.slice(0, this.length).sort();
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
    return { samples: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
  }
}

/** One stream of a group: where it is produced and read, and what its client saw. */
class ScaleClient {
  streamId = '';
  lastSequence = 0;
  lastIndex = -1;
  finalSeen = false;
  closed = false;
  private socket: net.Socket | undefined;
  private head: ResponseHeadReader | undefined = new ResponseHeadReader();
  private chunked: ChunkedDecoder | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private readonly parser: SseParser;
  private onHead: ((status: number) => void) | undefined;
  private headTimer: NodeJS.Timeout | undefined;
  private receivedAt = 0;

  constructor(
    private readonly group: Group,
    readonly producerPort: number,
  ) {
    this.parser = new SseParser((type, data, lastEventId) =>
      group.onEvent(this, type, data, lastEventId, this.receivedAt),
    );
  }

  open(port: number, onHead: (status: number) => void): void {
    this.onHead = onHead;
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.socket = socket;
    socket.write(
      `GET /streams/${this.streamId} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`,
    );
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => this.group.socketErrors++);
    socket.on('close', () => this.onClose());
    this.headTimer = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
  }

  destroy(): void {
    this.socket?.destroy();
  }

  private receive(chunk: Buffer): void {
    this.receivedAt = epochNow();
    let body = chunk;
    if (this.head) {
      const complete = this.head.feed(chunk);
      if (!complete) return;
      this.head = undefined;
      this.settle(complete.head.status);
      if (complete.head.status !== 200) {
        this.socket?.destroy();
        return;
      }
      if (complete.head.chunked) this.chunked = new ChunkedDecoder();
      body = complete.rest;
    }
    if (this.chunked) {
      this.chunked.feed(body, this.payload);
      if (this.chunked.ended) this.socket?.end();
    } else this.payload(body);
  }

  private readonly payload = (bytes: Buffer): void => this.parser.feed(this.decoder.write(bytes));

  private settle(status: number): void {
    clearTimeout(this.headTimer);
    const onHead = this.onHead;
    this.onHead = undefined;
    onHead?.(status);
  }

  private onClose(): void {
    this.socket = undefined;
    this.settle(0);
    if (this.closed) return;
    this.closed = true;
    this.group.onClosed(this);
  }
}

/** Totals of one group of streams, one client each. */
class Group {
  readonly clients: ScaleClient[] = [];
  events = 0;
  gaps = 0;
  duplicates = 0;
  ended = 0;
  closedEarly = 0;
  socketErrors = 0;
  closed = 0;
  private readonly otherEvents: Record<string, number> = {};
  private readonly latencies = new Samples();
  private readonly sentPerSlot = new Map<number, number>();

  constructor(readonly args: OpenArgs) {}

  onEvent(client: ScaleClient, type: string, data: string, lastEventId: string, receivedAt: number): void {
    const sequence = Number(lastEventId.slice(lastEventId.lastIndexOf('-') + 1));
    if (sequence <= client.lastSequence) this.duplicates++;
    else this.gaps += sequence - client.lastSequence - 1;
    client.lastSequence = Math.max(client.lastSequence, sequence);
    if (type !== 'text_delta') {
      this.otherEvents[type] = (this.otherEvents[type] ?? 0) + 1;
      if (FINAL_TYPES.has(type)) client.finalSeen = true;
      return;
    }
    this.events++;
    const at = data.indexOf(INDEX_FIELD);
    let index = 0;
    let i = at + INDEX_FIELD.length;
    for (let c = data.charCodeAt(i); c >= 48 && c <= 57; c = data.charCodeAt(++i)) index = index * 10 + c - 48;
    client.lastIndex = Math.max(client.lastIndex, index);
    const tAt = data.indexOf(T_FIELD, i);
    if (tAt === -1) return;
    const t = parseFloat(data.slice(tAt + T_FIELD.length, tAt + T_FIELD.length + 24));
    const slot = Math.floor(t / 100);
    this.sentPerSlot.set(slot, (this.sentPerSlot.get(slot) ?? 0) + 1);
    if (index >= this.args.warmupEvents) this.latencies.push(receivedAt - t);
  }

  onClosed(client: ScaleClient): void {
    this.closed++;
    if (client.finalSeen) this.ended++;
    else this.closedEarly++;
  }

  report(): ScaleReport {
    let missing = 0;
    for (const client of this.clients) missing += Math.max(0, this.args.body.events - 1 - client.lastIndex);
    return {
      clients: this.clients.length,
      events: this.events,
      gaps: this.gaps,
      duplicates: this.duplicates,
      missing,
      otherEvents: { ...this.otherEvents },
      ended: this.ended,
      closedEarly: this.closedEarly,
      socketErrors: this.socketErrors,
      latency: this.latencies.summary(),
      sentPerSlot: Object.fromEntries(this.sentPerSlot),
    };
  }
}

const groups = new Map<string, Group>();

function group(name: string): Group {
  const found = groups.get(name);
  if (!found) throw new Error(`no group ${name}`);
  return found;
}

/** POST /streams on the producing instance, then the client's GET on its own instance. */
async function openOne(target: Group, i: number, result: OpenResult): Promise<void> {
  const { ports, streams, clientOffset, body, startAt, spreadMs } = target.args;
  const producerPort = ports[i % ports.length];
  const client = new ScaleClient(target, producerPort);
  const startDelay = Math.round(startAt + (i / streams) * spreadMs - epochNow());
  if (startDelay < 0) result.late++;
  const note = (error: string) => {
    if (result.errors.length < 5) result.errors.push(error);
  };
  try {
    const response = await fetch(`http://127.0.0.1:${producerPort}/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, startDelayMs: Math.max(0, startDelay) }),
    });
    const text = await response.text();
    if (response.status !== 201)
      throw new Error(`POST /streams on :${producerPort} answered ${response.status}: ${text}`);
    client.streamId = (JSON.parse(text) as { stream_id: string }).stream_id;
  } catch (error) {
    result.createFailed++;
    note(String(error));
    return;
  }
  result.created++;
  target.clients.push(client);
  const clientPort = ports[(i + clientOffset) % ports.length];
  const status = await new Promise<number>((resolve) => client.open(clientPort, resolve));
  result.statuses[status] = (result.statuses[status] ?? 0) + 1;
  if (status === 200) result.opened++;
  else {
    result.failed++;
    note(`GET /streams/${client.streamId} on :${clientPort} answered ${status || 'nothing'}`);
  }
}

async function open(args: OpenArgs): Promise<OpenResult> {
  if (groups.has(args.group)) throw new Error(`group ${args.group} is already open`);
  const target = new Group(args);
  groups.set(args.group, target);
  const result: OpenResult = {
    created: 0,
    createFailed: 0,
    opened: 0,
    failed: 0,
    statuses: {},
    late: 0,
    errors: [],
    startedAt: epochNow(),
    finishedAt: 0,
  };
  let next = 0;
  const lane = async () => {
    while (next < args.streams) await openOne(target, next++, result);
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.streams) }, lane));
  result.finishedAt = epochNow();
  return result;
}

function wait({ group: name, stallMs, deadline }: WaitArgs): Promise<WaitResult> {
  const target = group(name);
  const result = (timedOut: boolean): WaitResult => ({
    complete: target.ended === target.clients.length,
    timedOut,
    closed: target.closed,
  });
  return new Promise((resolve) => {
    let seen = -1;
    let lastProgress = performance.now();
    const check = setInterval(() => {
      const progress = target.events + target.closed;
      if (target.closed === target.clients.length) {
        clearInterval(check);
        resolve(result(false));
      } else if (progress !== seen) {
        seen = progress;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > stallMs || epochNow() > deadline) {
        clearInterval(check);
        resolve(result(true));
      }
    }, 50);
  });
}

async function cancel(name: string): Promise<{ statuses: Record<string, number> }> {
  const statuses: Record<string, number> = {};
  const clients = [...group(name).clients];
  const lane = async () => {
    for (let client = clients.pop(); client; client = clients.pop()) {
      const status = await fetch(`http://127.0.0.1:${client.producerPort}/streams/${client.streamId}`, {
        method: 'DELETE',
      }).then(
        async (response) => (await response.arrayBuffer(), response.status),
        () => 0,
      );
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  return { statuses };
}

type Handlers = {
  [K in CommandName]: (args: Commands[K]['args']) => Commands[K]['result'] | Promise<Commands[K]['result']>;
};

const handlers: Handlers = {
  open,
  wait,
  report: ({ group: name }) => group(name).report(),
  cancel: ({ group: name }) => cancel(name),
  close: ({ group: name }) => {
    const found = groups.get(name);
    for (const client of found?.clients ?? []) client.destroy();
    groups.delete(name);
    return { closed: found?.clients.length ?? 0 };
  },
};

process.on('message', (message: Request) => {
  const handler = handlers[message.cmd] as (args: unknown) => unknown;
  Promise.resolve()
    .then(() => handler(message.args))
    .then(
      (result) => process.send!({ id: message.id, ok: true, result } satisfies Reply),
      (error: unknown) => process.send!({ id: message.id, ok: false, error: String(error) } satisfies Reply),
    );
});
// The runner gone (even killed): nothing left to do.
process.on('disconnect', () => process.exit(0));
