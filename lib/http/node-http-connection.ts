import type { ServerResponse } from 'node:http';
import { chunkOf, joinFrames } from '../core/sse-frame.js';
import { isChunked, socketIsWriting } from './node-private.js';
import { SseConnection } from './sse-connection.js';

/**
 * Bytes a response may hold unsent before its client is paused. Above Node's 16 KiB write
 * threshold so that a burst goes out in one corked write, small enough that a stalled client
 * costs little.
 */
export const HIGH_WATER_BYTES = 64 * 1024;

/** What Nest's `@Sse()` sends, so that both delivery paths answer with the same head. */
export const SSE_RESPONSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream',
  Connection: 'keep-alive',
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  Pragma: 'no-cache',
  Expires: '0',
  'X-Accel-Buffering': 'no',
});

const SSE_HEADER_NAMES = new Set(Object.keys(SSE_RESPONSE_HEADERS).map((name) => name.toLowerCase()));
const CONNECTED = Buffer.from('\n');

/** Options of a {@link NodeHttpConnection}. */
export interface NodeHttpConnectionOptions {
  /** Headers set elsewhere (Fastify's `reply.header()`), sent with the head; the SSE ones win. */
  readonly headers?: Record<string, unknown>;
  /** A `HEAD` request: the head only, then the end. */
  readonly headOnly?: boolean;
}

/** Connections holding frames for the end of this turn: one microtask flushes them all. */
let dirty: NodeHttpConnection[] = [];

function flushAll(): void {
  const connections = dirty;
  dirty = [];
  for (const connection of connections) connection.flush();
}

/**
 * An event stream on Node's `ServerResponse` (Express's response, Fastify's `reply.raw`). The
 * first frame of a turn of the event loop is written at once; the frames that follow in the same
 * turn are joined and written together at its end: a burst costs each client two writes, and
 * clients level with each other share the joined buffer. On a chunk-encoded HTTP/1.1 response
 * that owns its socket, each frame goes to the socket already chunked (made once, shared).
 */
export class NodeHttpConnection extends SseConnection {
  private wroteThisTurn = false;
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  /** What the response held after the turn's first write; read once per turn, not per frame. */
  private baseLength = 0;

  constructor(
    private readonly response: ServerResponse,
    private readonly options: NodeHttpConnectionOptions = {},
  ) {
    super();
  }

  open(): void {
    const response = this.response;
    if (response.headersSent) return;
    response.socket?.setNoDelay(true);
    response.socket?.setKeepAlive(true);
    const headers: Record<string, unknown> = {};
    for (const [name, value] of Object.entries({ ...response.getHeaders(), ...this.options.headers })) {
      if (!SSE_HEADER_NAMES.has(name.toLowerCase()) && value !== undefined) headers[name] = value;
    }
    response.writeHead(200, { ...headers, ...SSE_RESPONSE_HEADERS } as Record<string, string>);
    response.flushHeaders();
    if (this.options.headOnly) {
      response.end();
      return;
    }
    response.write(CONNECTED);
  }

  write(frame: Buffer): void {
    if (this.wroteThisTurn) {
      (this.held ??= []).push(frame);
      this.heldBytes += frame.length;
      return;
    }
    if (this.isGone()) return;
    this.wroteThisTurn = true;
    if (dirty.length === 0) queueMicrotask(flushAll);
    dirty.push(this);
    this.send(frame);
    this.baseLength = this.response.writableLength;
  }

  /** Bytes the client has queued: what the response held at the turn's first write plus what is held since. */
  get backlog(): number {
    return this.baseLength + this.heldBytes;
  }

  isBackedUp(): boolean {
    return this.backlog >= HIGH_WATER_BYTES || this.response.destroyed;
  }

  onceWritable(listener: () => void): () => void {
    // Frames may go straight to the socket, which then, not the response, says when it drained.
    const socket = this.response.socket;
    const source = socket?.writableNeedDrain ? socket : this.response;
    // A turn first, so that what was queued reaches the socket and the next look at the backlog means something.
    let immediate: NodeJS.Immediate | undefined;
    const later = () => (immediate = setImmediate(listener));
    if (!source.writableNeedDrain) {
      later();
      return () => clearImmediate(immediate);
    }
    source.once('drain', later);
    return () => {
      source.off('drain', later);
      clearImmediate(immediate);
    };
  }

  /** Hands over what was held back this turn. */
  flush(): void {
    this.wroteThisTurn = false;
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    this.heldBytes = 0;
    if (!this.isGone()) this.send(held.length === 1 ? held[0] : joinFrames(held));
  }

  end(): void {
    this.flush();
    this.response.end();
  }

  abort(): void {
    this.response.destroy();
  }

  onClose(listener: () => void): void {
    if (this.response.closed) queueMicrotask(listener);
    else this.response.once('close', listener);
  }

  private isGone(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  /**
   * Straight to the socket, chunked, when the response owns it and holds nothing of its own (Node
   * 24 keeps `response.write()` data back for a moment: a frame must not overtake it); else
   * `response.write()`.
   */
  private send(bytes: Buffer): void {
    const { response } = this;
    const socket = response.socket;
    const direct =
      socket &&
      isChunked(response) &&
      socketIsWriting(socket, response) &&
      response.writableLength <= socket.writableLength;
    if (direct) socket.write(chunkOf(bytes));
    else response.write(bytes);
  }
}
