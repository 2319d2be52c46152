import type { FrameWriter } from '../core/flow-control.js';
import { chunkOf, joinFrames } from '../core/sse-frame.js';

/** The connection under a response, as far as the direct path writes to it. */
export interface FrameSocket {
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
  /** The response that currently owns the connection (Node.js's own bookkeeping). */
  readonly _httpMessage?: unknown;
  write(chunk: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/** What the direct path needs of a Node.js HTTP response (Express `Response`, Fastify `reply.raw`). */
export interface FrameResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableLength: number;
  /** True when Node.js chunk-encodes the body (HTTP/1.1 without Content-Length). */
  readonly chunkedEncoding?: boolean;
  readonly socket?: FrameSocket | null;
  write(chunk: Buffer): boolean;
}

/**
 * Sends bytes of the body. When Node.js chunk-encodes the response and the response owns its
 * connection, the chunk (framed once, shared by every client) goes straight to the socket: one
 * buffer per write instead of the four `response.write()` hands the socket for the size line,
 * the data and the line ends. Otherwise, `response.write()`. Either way the bytes keep their
 * order, and `response.end()` still writes the last chunk.
 */
function send(response: FrameResponse, bytes: Buffer): void {
  const socket = response.socket;
  if (socket && response.chunkedEncoding === true && socket._httpMessage === response) socket.write(chunkOf(bytes));
  else response.write(bytes);
}

/** Writers holding frames for the end of this turn: one microtask flushes them all. */
let dirty: (() => void)[] = [];

function flushAtEndOfTurn(flush: () => void): void {
  if (dirty.length === 0) queueMicrotask(flushAll);
  dirty.push(flush);
}

function flushAll(): void {
  const flushes = dirty;
  dirty = [];
  for (const flush of flushes) flush();
}

/** How long the direct path waits for Nest to send the response head before it gives up. */
const OPEN_TIMEOUT_MS = 10_000;

/** A {@link FrameWriter} on a response, with what it holds for the end of the turn. */
export interface ResponseFrameWriter extends FrameWriter {
  /** Bytes the client has queued: what the response held at the start of the turn plus those. */
  readonly backlog: number;
  flush(): void;
}

/**
 * Writes SSE frames straight to a response whose head NestJS's `@Sse()` sends (or the direct
 * path sent). The first frame of a turn of the event loop is written at once; the frames that
 * follow it in the same turn are handed to the response together, in one write, at the end of
 * the turn (a microtask): a burst of events costs each client two writes instead of one per
 * event, and clients level with each other share the joined buffer.
 */
export function responseFrameWriter(response: FrameResponse): ResponseFrameWriter {
  // The turn's first frame goes out at once (a live event reaches every client without waiting
  // for the others); later frames of the same turn wait and leave together at its end.
  let wroteThisTurn = false;
  let held: Buffer[] | undefined;
  let pendingBytes = 0;
  // What the response held after the turn's first write; read once per turn, not per frame.
  let baseLength = 0;
  const flush = (): void => {
    wroteThisTurn = false;
    if (!held) return;
    const bytes = held.length === 1 ? held[0] : joinFrames(held);
    held = undefined;
    pendingBytes = 0;
    if (!response.destroyed && !response.writableEnded) send(response, bytes);
  };
  return {
    get backlog() {
      return baseLength + pendingBytes;
    },
    whenOpen(listener) {
      let timer: NodeJS.Timeout | undefined;
      let cancelled = false;
      const deadline = Date.now() + OPEN_TIMEOUT_MS;
      const check = () => {
        if (cancelled || response.destroyed || response.writableEnded) return;
        if (response.headersSent) listener();
        else if (Date.now() < deadline) timer = setTimeout(check, 1);
      };
      // Nest sends the head from a zero-delay timer set when it subscribes; a zero-delay timer
      // set after it fires after it (same-delay timers run in the order they were set).
      queueMicrotask(() => {
        if (!cancelled) timer = setTimeout(check, 0);
      });
      return () => {
        cancelled = true;
        clearTimeout(timer);
      };
    },
    write(frame) {
      if (!wroteThisTurn) {
        if (response.destroyed || response.writableEnded) return;
        wroteThisTurn = true;
        flushAtEndOfTurn(flush);
        send(response, frame);
        baseLength = response.writableLength;
        return;
      }
      (held ??= []).push(frame);
      pendingBytes += frame.length;
    },
    flush,
  };
}
