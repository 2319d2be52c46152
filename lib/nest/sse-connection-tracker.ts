import { ServerResponse } from 'node:http';
import { Injectable } from '@nestjs/common';

interface Closable {
  on(event: 'close', listener: (this: Closable) => void): unknown;
  destroy(): unknown;
  readonly destroyed?: boolean;
}

interface TrackedResponse extends Closable {
  readonly socket?: Closable | null;
  readonly writableFinished?: boolean;
}

/**
 * The open SSE responses of this application, registered by `StreamGuard`, so that shutdown can
 * wait for them to end and cut the ones that do not (a client that stopped reading keeps its
 * response open, and Nest's `app.close()` would wait for it forever).
 */
@Injectable()
export class SseConnectionTracker {
  /**
   * By HTTP/1 socket, else by the response itself (an HTTP/2 session's socket carries every
   * stream of the session). The socket is a plain object, while Express gives each response a
   * prototype of its own, which makes every read and listener on it slower: this runs once per
   * connection. A kept-alive socket may carry other requests once its SSE response finished.
   */
  private readonly open = new Map<Closable, TrackedResponse>();
  /** One listener for every socket (`this` is the socket), rather than a closure per connection. */
  private readonly forget = ((tracker: SseConnectionTracker) =>
    function (this: Closable) {
      tracker.open.delete(this);
    })(this);

  /** Number of SSE responses still open. */
  get size(): number {
    return this.prune();
  }

  /** Registers a response (Express `Response`, Fastify `FastifyReply` or a raw `ServerResponse`). */
  track(response: unknown): void {
    // Express's response is the ServerResponse itself: `instanceof` spares reads of properties it
    // does not have, and of `on`, which is five prototypes up from it.
    const raw = (
      response instanceof ServerResponse
        ? response
        : ((response as { raw?: unknown } | null | undefined)?.raw ?? response)
    ) as TrackedResponse | undefined;
    if (raw instanceof ServerResponse) this.add(raw.socket ?? raw, raw);
    else if (typeof raw?.on === 'function') this.add(raw, raw);
  }

  private add(key: Closable, response: TrackedResponse): void {
    if (key.destroyed) return;
    const tracked = this.open.size;
    this.open.set(key, response);
    // `on`, not `once`: a socket closes once, and `once` wraps the listener for each call.
    if (this.open.size !== tracked) key.on('close', this.forget);
  }

  /** Waits up to `graceMs` for every tracked response to end, then destroys what is left. */
  async closeAll(graceMs: number): Promise<number> {
    const deadline = Date.now() + graceMs;
    while (this.prune() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const cut = this.prune();
    for (const key of this.open.keys()) key.destroy();
    this.open.clear();
    return cut;
  }

  /** Forgets responses that have ended (their socket may serve other requests); returns how many are left. */
  private prune(): number {
    for (const [key, response] of this.open) {
      if (response.writableFinished || response.destroyed) this.open.delete(key);
    }
    return this.open.size;
  }
}
