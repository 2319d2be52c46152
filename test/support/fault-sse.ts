import { createHash } from 'node:crypto';
import { SseLineParser } from './sse-parser.js';
import http from 'node:http';
import type net from 'node:net';

/*
 * SSE clients for the fault suites (test/faults/, test/soak/): a raw client over node:http that
 * exposes its socket and the frame it is in the middle of (so a test can reset it mid-frame), a
 * logical client that reconnects with Last-Event-ID until the final event, and the checks every
 * fault test makes: every event once, in order, gap-free, then exactly one final event.
 */

/** One SSE block that carried data, as the spec's parser dispatches it (plus its id and type). */
export interface SseFrame {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

/** The library's final event types (its defaults). */
export const FINAL_TYPES = ['done', 'error', 'cancelled'] as const;
export type FinalType = (typeof FINAL_TYPES)[number];

export const isFinal = (frame: SseFrame | undefined): boolean =>
  frame !== undefined && (FINAL_TYPES as readonly string[]).includes(frame.event ?? '');

/** The sequence of an id `<epoch>-<n>`. */
export const sequenceOf = (id: string | undefined): number => Number(id?.split('-')[1]);

/** The epoch of an id `<epoch>-<n>`. */
export const epochOf = (id: string | undefined): string => id?.split('-')[0] ?? '';

export const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A raw SSE client over node:http (agent: false, one socket of its own). It parses every field
 * itself, counts bytes, knows whether it stopped inside a frame, and can reset its socket (RST),
 * close it (FIN) or stop reading at any chunk, through `onChunk`.
 */
export class RawSseClient {
  readonly events: SseFrame[] = [];
  /** Every block with an id, data or retry: the id-only position marker (sent with `retryMs`) included. */
  readonly blocks: SseFrame[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  ended = false;
  /** The request failed before a response (refused, reset before the head). */
  error: Error | undefined;
  bytesReceived = 0;
  /** When the request was made, and when the response head arrived (ms since the epoch). */
  readonly openedAt = Date.now();
  headersAt: number | undefined;
  socket: net.Socket | undefined;
  readonly done: Promise<void>;
  /** Called after every chunk has been parsed. */
  onChunk: ((client: RawSseClient) => void) | undefined;
  private readonly request: http.ClientRequest;
  private response: http.IncomingMessage | undefined;
  /** Text received after the last complete line. */
  private readonly parser = new SseLineParser((block, hasData) => {
    const frame: SseFrame = {
      ...(block.id === undefined ? {} : { id: block.id }),
      ...(block.event === undefined ? {} : { event: block.event }),
      data: block.data,
    };
    this.blocks.push(frame);
    if (hasData) this.events.push(frame);
  });
  private readonly waiters = new Set<() => void>();

  constructor(url: string, lastEventId?: string, headers: Record<string, string> = {}) {
    const allHeaders: Record<string, string> = { accept: 'text/event-stream', ...headers };
    if (lastEventId) allHeaders['last-event-id'] = lastEventId;
    let settle!: () => void;
    this.done = new Promise<void>((resolve) => (settle = resolve));
    const finish = (error?: Error) => {
      if (this.ended) return;
      this.ended = true;
      if (error && !this.response) this.error = error;
      this.notify();
      settle();
    };
    this.request = http.get(url, { headers: allHeaders, agent: false }, (response) => {
      this.response = response;
      this.headersAt = Date.now();
      this.status = response.statusCode ?? 0;
      this.headers = response.headers;
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        this.bytesReceived += Buffer.byteLength(chunk);
        this.parser.feed(chunk);
        this.onChunk?.(this);
        this.notify();
      });
      response.on('error', () => undefined);
      response.on('close', () => finish());
    });
    this.request.on('socket', (socket) => {
      this.socket = socket;
      // A reset that lands after the response ended must not become an uncaught error.
      socket.on('error', () => undefined);
    });
    this.request.on('error', (error) => finish(error));
  }

  /** Id of the last complete event (what a spec-following client would send back). */
  get lastEventId(): string | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) if (this.blocks[i].id !== undefined) return this.blocks[i].id;
    return undefined;
  }

  /** True when part of a frame has arrived but not its end (the blank line). */
  get inFrame(): boolean {
    return this.parser.blockChars > 0 || this.parser.pending.length > 0;
  }

  /** Characters of the unfinished frame received so far. */
  get partialChars(): number {
    return this.parser.blockChars + this.parser.pending.length;
  }

  get finalEvent(): SseFrame | undefined {
    const last = this.events.at(-1);
    return isFinal(last) ? last : undefined;
  }

  /** Resolves once `predicate` holds (checked after every chunk and at the end). */
  waitFor(predicate: (client: RawSseClient) => boolean, timeoutMs = 15_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `RawSseClient: condition not met within ${timeoutMs} ms (${this.events.length} events, ${this.bytesReceived} bytes, ended ${this.ended})`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** Stops reading: the kernel buffers fill and the server's writes back up. */
  pause(): void {
    this.response?.pause();
    this.socket?.pause();
  }

  /** Resets the TCP connection (RST): the client vanished mid-whatever. */
  reset(): void {
    if (this.socket && !this.socket.destroyed) this.socket.resetAndDestroy();
    else this.request.destroy();
  }

  /** Closes the connection the polite way (FIN), whatever it was in the middle of. */
  close(): void {
    this.request.destroy();
    this.response?.destroy();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * Frames reduced to `id type sha1(data)`: comparable with toEqual without printing megabytes of
 * data when they differ.
 */
export function fingerprint(frames: readonly SseFrame[]): string[] {
  return frames.map(
    (frame) =>
      `${frame.id} ${frame.event ?? 'message'} ${createHash('sha1').update(frame.data).digest('hex').slice(0, 12)}`,
  );
}

/** Reads a whole SSE response (until the server ends it). */
export async function readToEnd(url: string, lastEventId?: string): Promise<RawSseClient> {
  const client = new RawSseClient(url, lastEventId);
  await client.done;
  return client;
}

/**
 * Checks that `frames` are exactly the events after `after` of one stream: at least one event
 * (an empty run would pass every other check; `mayBeEmpty` where none is a correct outcome), ids of
 * one epoch, sequences consecutive from `after + 1` (no gap, no duplicate, no reorder), no `reset`,
 * and, with `final`, exactly one final event, the last one, of that type. Returns the last sequence.
 */
export function expectExactRun(
  frames: readonly SseFrame[],
  options: { after?: number; final?: FinalType | 'any'; epoch?: string; label?: string; mayBeEmpty?: true } = {},
): number {
  const after = options.after ?? 0;
  const label = options.label ?? 'client';
  if (!options.mayBeEmpty) expect({ label, empty: frames.length === 0 }).toEqual({ label, empty: false });
  const sequences = frames.map((frame) => sequenceOf(frame.id));
  const expected = range(after + 1, after + frames.length);
  expect({ label, sequences }).toEqual({ label, sequences: expected });
  const epochs = new Set(frames.map((frame) => epochOf(frame.id)));
  if (options.epoch !== undefined) epochs.add(options.epoch);
  expect({ label, epochs: epochs.size <= 1 }).toEqual({ label, epochs: true });
  expect({ label, resets: frames.filter((frame) => frame.event === 'reset').length }).toEqual({ label, resets: 0 });
  const finals = frames.map((frame, index) => (isFinal(frame) ? index : -1)).filter((index) => index >= 0);
  if (options.final !== undefined) {
    expect({ label, finals }).toEqual({ label, finals: [frames.length - 1] });
    if (options.final !== 'any')
      expect({ label, final: frames.at(-1)?.event }).toEqual({ label, final: options.final });
  } else {
    expect({ label, finals }).toEqual({ label, finals: [] });
  }
  return after + frames.length;
}

/** One reader across its reconnects. */
export interface LogicalClientResult {
  /** Every event received, across connections, in order. */
  readonly events: SseFrame[];
  /** Connections that got a 200 and events. */
  readonly connections: number;
  /** Attempts that failed: refused, reset before the head, or a status other than 200. */
  readonly failedAttempts: number;
  /** Statuses other than 200 seen, e.g. 503 during a shutdown. */
  readonly statuses: number[];
}

/**
 * Resolves when the connection ends; rejects when `signal` aborts, or when it has been open
 * `stallMs` without an event.
 */
function connectionEnd(
  client: RawSseClient,
  stallMs: number | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let stall: NodeJS.Timeout | undefined;
    const finish = (error?: Error) => {
      clearTimeout(stall);
      client.onChunk = previous;
      signal?.removeEventListener('abort', aborted);
      if (error) reject(error);
      else resolve();
    };
    const aborted = () => finish(new Error('aborted'));
    const armStall = () => {
      clearTimeout(stall);
      if (stallMs !== undefined)
        stall = setTimeout(() => finish(new Error(`no event for ${stallMs} ms on an open connection`)), stallMs);
    };
    const previous = client.onChunk;
    let seen = client.events.length;
    client.onChunk = (c) => {
      previous?.(c);
      if (c.events.length > seen) {
        seen = c.events.length;
        armStall();
      }
    };
    signal?.addEventListener('abort', aborted, { once: true });
    armStall();
    void client.done.then(() => finish());
  });
}

/**
 * A client that follows a stream until its final event: on every drop (the server ended the
 * response without a final event, the connection was refused or reset, 503) it reconnects with
 * its Last-Event-ID to the URL `next()` picks, after `retryMs`. `cut` may end connections early.
 * It gives up (rejects) past its deadline (checked before each connection), when `signal` aborts
 * (also in the middle of a connection) and, with `stallMs`, as soon as a connection stays open
 * that long without an event (a server that lost the final event keeps the response open: this
 * says so in seconds rather than at the test's timeout).
 */
export async function followUntilFinal(
  next: (attempt: number) => string,
  options: {
    retryMs?: number;
    deadlineMs?: number;
    /** Called after every chunk: `reset` (RST) or `close` (FIN) ends the connection there. */
    cut?: (client: RawSseClient, received: number) => 'reset' | 'close' | undefined;
    startAfter?: string;
    /** Gives up (rejects) when aborted, e.g. when the test has already failed. */
    signal?: AbortSignal;
    /** Gives up when a connection stays open this long without an event (for streams that never pause that long). */
    stallMs?: number;
  } = {},
): Promise<LogicalClientResult> {
  const events: SseFrame[] = [];
  const statuses: number[] = [];
  let lastEventId = options.startAfter;
  let connections = 0;
  let failedAttempts = 0;
  const deadline = Date.now() + (options.deadlineMs ?? 45_000);
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    if (Date.now() > deadline) {
      throw new Error(
        `followUntilFinal: no final event after ${attempt} attempts (${events.length} events, last ${lastEventId}, statuses ${statuses.join(',')})`,
      );
    }
    const client = new RawSseClient(next(attempt), lastEventId);
    if (options.cut) {
      const cut = options.cut;
      client.onChunk = (c) => {
        const how = cut(c, events.length + c.events.length);
        if (how === 'reset') c.reset();
        else if (how === 'close') c.close();
      };
    }
    await connectionEnd(client, options.stallMs, options.signal).catch((error: Error) => {
      client.close();
      throw new Error(
        `followUntilFinal: ${error.message} (${events.length + client.events.length} events, last ${client.lastEventId ?? lastEventId}, attempt ${attempt})`,
      );
    });
    if (client.status === 200) connections++;
    else {
      failedAttempts++;
      if (client.status !== 0) statuses.push(client.status);
      if (client.status === 204) throw new Error(`followUntilFinal: 204 before a final event (last ${lastEventId})`);
    }
    events.push(...client.events);
    lastEventId = client.lastEventId ?? lastEventId;
    if (isFinal(events.at(-1))) return { events, connections, failedAttempts, statuses };
    await sleep(options.retryMs ?? 50);
  }
}
