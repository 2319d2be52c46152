import { Injectable } from '@nestjs/common';

interface ClosableResponse {
  once(event: 'close', listener: () => void): unknown;
  destroy(): unknown;
  readonly writableEnded?: boolean;
  readonly destroyed?: boolean;
}

/**
 * The open SSE responses of this application, registered by `StreamGuard`, so that shutdown can
 * wait for them to end and cut the ones that do not (a client that stopped reading keeps its
 * response open, and Nest's `app.close()` would wait for it forever).
 */
@Injectable()
export class SseConnectionTracker {
  private readonly open = new Set<ClosableResponse>();

  /** Number of SSE responses still open. */
  get size(): number {
    return this.open.size;
  }

  /** Registers a response (Express `Response`, Fastify `FastifyReply` or a raw `ServerResponse`). */
  track(response: unknown): void {
    const raw = ((response as { raw?: unknown })?.raw ?? response) as ClosableResponse;
    if (typeof raw?.once !== 'function' || raw.destroyed || this.open.has(raw)) return;
    this.open.add(raw);
    raw.once('close', () => this.open.delete(raw));
  }

  /** Waits up to `graceMs` for every tracked response to close, then destroys what is left. */
  async closeAll(graceMs: number): Promise<number> {
    const deadline = Date.now() + graceMs;
    while (this.open.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const cut = this.open.size;
    for (const response of this.open) response.destroy();
    this.open.clear();
    return cut;
  }
}
