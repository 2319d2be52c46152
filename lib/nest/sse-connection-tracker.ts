import type { EventEmitter } from 'node:events';
import { ServerResponse } from 'node:http';
import tls from 'node:tls';
import { Injectable } from '@nestjs/common';
import { connectionsListOf, responseOn, writtenHead, type ConnectionsList } from '../http/node-private.js';
import { nodeResponseOf } from './node-response.js';

interface TrackedResponse {
  destroy(): unknown;
  readonly socket?: { destroy(): unknown } | null;
  readonly destroyed?: boolean;
  readonly writableFinished?: boolean;
  getHeader?(name: string): unknown;
}

/** An HTTP/1 response's socket. */
interface ResponseSocket {
  readonly destroyed: boolean;
}

/** The fewest responses held before ended ones are looked for. */
const MIN_PRUNE_SIZE = 64;

/** A server to watch: Nest's HTTP server, a `net.Server`. */
type WatchedServer = EventEmitter & { readonly listening?: boolean };

/**
 * The open SSE responses of this application, so that shutdown can wait for them to end and cut
 * the ones that do not (a client that stopped reading keeps its response open, and Nest's
 * `app.close()` would wait for it forever). Found two ways: `StreamGuard` registers the responses
 * of its routes, and the connections of Nest's HTTP server are watched, which finds the event
 * streams of routes without the guard (a plain `@Sse()` route, a hand-written one) at shutdown.
 */
@Injectable()
export class SseConnectionTracker {
  /**
   * Responses, not sockets: a kept-alive socket may carry other requests once its SSE response
   * finished. Ended ones are dropped in one sweep whenever the list has doubled since the last
   * sweep, rather than by a `close` listener per connection: adding a listener to a socket
   * costs more than the rest of registering it, and this runs once per connection.
   */
  private readonly open: TrackedResponse[] = [];
  /**
   * The socket of each HTTP/1 response (undefined for others), which the sweep asks instead of
   * the response: Express gives every response a prototype of its own, which makes its reads
   * slow lookups, while sockets are plain Node objects.
   */
  private readonly sockets: (ResponseSocket | undefined)[] = [];
  private pruneAt = MIN_PRUNE_SIZE;
  /** The connection lists of the watched servers. */
  private readonly connectionLists: ConnectionsList[] = [];
  /** Connections of watched servers without such a list; ended ones are dropped the same way. */
  private readonly connections: ResponseSocket[] = [];
  private connectionsPruneAt = MIN_PRUNE_SIZE;

  /** Number of SSE responses still open. */
  get size(): number {
    return this.stillOpen().size;
  }

  /** Registers a response (Express `Response`, Fastify `FastifyReply` or a raw `ServerResponse`). */
  track(response: unknown): void {
    const raw = nodeResponseOf<TrackedResponse>(response, 'destroy');
    if (!raw) return;
    // Null for a pipelined response still waiting for the one ahead of it on its connection.
    const socket = raw instanceof ServerResponse ? (raw.socket as ResponseSocket | null) : null;
    if (socket ? socket.destroyed : raw.destroyed) return;
    this.open.push(raw);
    this.sockets.push(socket ?? undefined);
    if (this.open.length >= this.pruneAt) this.prune();
  }

  /**
   * Lets shutdown also find the event streams of routes `StreamGuard` is not on, by looking at
   * the response each of `server`'s connections is writing then, not per request. Called by the
   * module with Nest's HTTP server. Node keeps a list of an HTTP server's connections, which is
   * read; a server without one (another kind, or a Node that no longer keeps it) gets a
   * `connection` listener instead, which costs every connection a call.
   */
  watch(server: WatchedServer): void {
    // The list is made when the server starts listening, by a listener Node added before this one.
    const watchListening = () => {
      const list = connectionsListOf(server);
      if (list) this.connectionLists.push(list);
      else this.rememberConnections(server);
    };
    if (server.listening) watchListening();
    else server.once('listening', watchListening);
  }

  private rememberConnections(server: WatchedServer): void {
    // Over TLS, HTTP runs on the TLS socket, not on the TCP socket of `connection`.
    const event = server instanceof tls.Server ? 'secureConnection' : 'connection';
    server.on(event, (socket: ResponseSocket) => {
      const connections = this.connections;
      connections.push(socket);
      if (connections.length >= this.connectionsPruneAt) this.pruneConnections();
    });
  }

  /**
   * Waits up to `graceMs` for every open SSE response (tracked, or on a watched connection) to
   * end, then destroys what is left; returns how many it cut.
   */
  async closeAll(graceMs: number): Promise<number> {
    const open = this.stillOpen();
    if (open.size > 0 && graceMs > 0) await untilClosed(open, graceMs);
    const left = this.stillOpen();
    // An HTTP/1 response ends only with its socket; an HTTP/2 stream is destroyed by itself, as
    // its session's socket carries the session's other streams.
    for (const response of left) {
      (response instanceof ServerResponse ? (response.socket ?? response) : response).destroy();
    }
    this.open.length = 0;
    this.sockets.length = 0;
    return left.size;
  }

  /**
   * The responses that have not ended, each once (a route with the guard twice registers its
   * response twice). One that has written everything is left out even before Node lets go of
   * its socket, which the sweep waits for.
   */
  private stillOpen(): Set<TrackedResponse> {
    this.prune();
    const open = new Set(this.open.filter((response) => !response.writableFinished));
    this.pruneConnections();
    for (const socket of this.connections) addIfEventStream(open, socket);
    for (const list of this.connectionLists) {
      for (const connection of list.all())
        if (connection.socket) addIfEventStream(open, connection.socket as ResponseSocket);
    }
    return open;
  }

  /** Forgets connections that have ended. */
  private pruneConnections(): void {
    const connections = this.connections;
    let kept = 0;
    for (const socket of connections) if (!socket.destroyed) connections[kept++] = socket;
    connections.length = kept;
    this.connectionsPruneAt = Math.max(MIN_PRUNE_SIZE, 2 * kept);
  }

  /** Forgets responses that have ended; returns how many entries are left. */
  private prune(): number {
    const { open, sockets } = this;
    let kept = 0;
    for (let index = 0; index < open.length; index++) {
      const response = open[index];
      const socket = sockets[index];
      // Node lets go of the socket (`_httpMessage`) once a response has finished writing.
      const over = socket
        ? socket.destroyed || responseOn(socket) !== response
        : response.destroyed || response.writableFinished;
      if (over) continue;
      open[kept] = response;
      sockets[kept++] = socket;
    }
    open.length = kept;
    sockets.length = kept;
    this.pruneAt = Math.max(MIN_PRUNE_SIZE, 2 * kept);
    return kept;
  }
}

/**
 * Resolves once every response has closed (Node emits `close` on a response also when it
 * finishes), or after `graceMs`: a listener per response, once, rather than a look at every
 * response every few ms for the whole grace period (19,000 open responses made that a busy loop).
 * A response that is no event emitter is waited for until the end of the grace period.
 */
function untilClosed(responses: ReadonlySet<TrackedResponse>, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const emitters = [...responses].filter(
      (response): response is TrackedResponse & EventEmitter =>
        typeof (response as Partial<EventEmitter>).once === 'function',
    );
    let left = responses.size;
    const done = () => {
      clearTimeout(timer);
      for (const emitter of emitters) emitter.off('close', closed);
      resolve();
    };
    const closed = () => {
      if (--left === 0) done();
    };
    const timer = setTimeout(done, graceMs);
    for (const emitter of emitters) emitter.once('close', closed);
  });
}

/** Adds the response `socket` is writing to `open`, if it is an event stream that has not finished. */
function addIfEventStream(open: Set<TrackedResponse>, socket: ResponseSocket): void {
  const response = responseOn(socket) as TrackedResponse | undefined;
  if (response && !response.writableFinished && isEventStream(response)) open.add(response);
}

/** Whether a response's `Content-Type` is `text/event-stream`, set by `setHeader()` or `writeHead()`. */
function isEventStream(response: TrackedResponse): boolean {
  const type = response.getHeader?.('content-type');
  if (type !== undefined) return String(type).toLowerCase().startsWith('text/event-stream');
  // `writeHead(status, headers)` on a response with no header set before writes them unkept.
  const head = writtenHead(response);
  return head !== undefined && /\r\ncontent-type:[ \t]*text\/event-stream/i.test(head);
}
