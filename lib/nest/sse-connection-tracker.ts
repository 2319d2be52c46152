import { ServerResponse } from 'node:http';
import { Injectable } from '@nestjs/common';
import { nodeResponseOf } from './node-response.js';

interface TrackedResponse {
  destroy(): unknown;
  readonly socket?: { destroy(): unknown } | null;
  readonly destroyed?: boolean;
  readonly writableFinished?: boolean;
}

/** The fewest responses held before ended ones are looked for. */
const MIN_PRUNE_SIZE = 64;

/**
 * The open SSE responses of this application, registered by `StreamGuard`, so that shutdown can
 * wait for them to end and cut the ones that do not (a client that stopped reading keeps its
 * response open, and Nest's `app.close()` would wait for it forever).
 */
@Injectable()
export class SseConnectionTracker {
  /**
   * Responses, not sockets: a kept-alive socket may carry other requests once its SSE response
   * finished. Ended ones are dropped in one sweep whenever the set has doubled since the last
   * sweep, rather than by a `close` listener per connection: adding a listener to a socket
   * costs more than the rest of registering it, and this runs once per connection.
   */
  private readonly open = new Set<TrackedResponse>();
  private pruneAt = MIN_PRUNE_SIZE;

  /** Number of SSE responses still open. */
  get size(): number {
    return this.prune();
  }

  /** Registers a response (Express `Response`, Fastify `FastifyReply` or a raw `ServerResponse`). */
  track(response: unknown): void {
    const raw = nodeResponseOf<TrackedResponse>(response, 'destroy');
    // `destroyed` is the response's own field; `writableFinished`, a slow read on Express's
    // responses, is left to the sweep (the guard runs before anything is written).
    if (!raw || raw.destroyed) return;
    this.open.add(raw);
    if (this.open.size >= this.pruneAt) this.prune();
  }

  /** Waits up to `graceMs` for every tracked response to end, then destroys what is left. */
  async closeAll(graceMs: number): Promise<number> {
    const deadline = Date.now() + graceMs;
    while (this.prune() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const cut = this.prune();
    // An HTTP/1 response ends only with its socket; an HTTP/2 stream is destroyed by itself, as
    // its session's socket carries the session's other streams.
    for (const response of this.open)
      (response instanceof ServerResponse ? (response.socket ?? response) : response).destroy();
    this.open.clear();
    return cut;
  }

  /** Forgets responses that have ended; returns how many are left. */
  private prune(): number {
    for (const response of this.open) {
      if (response.writableFinished || response.destroyed) this.open.delete(response);
    }
    this.pruneAt = Math.max(MIN_PRUNE_SIZE, 2 * this.open.size);
    return this.open.size;
  }
}
