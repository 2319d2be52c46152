import type { FrameWriter } from '../core/flow-control.js';

/** What the direct path needs of a Node.js HTTP response (Express `Response`, Fastify `reply.raw`). */
export interface FrameResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableLength: number;
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
}

/** How long the direct path waits for Nest to send the response head before it gives up. */
const OPEN_TIMEOUT_MS = 10_000;

/**
 * Writes SSE frames straight to a response whose head NestJS's `@Sse()` sends. Writes made in
 * one turn of the event loop leave in one system call (the socket is corked until the next
 * tick), which is what keeps fan-out of bursts cheap.
 */
export function responseFrameWriter(response: FrameResponse): FrameWriter {
  let corked = false;
  const uncork = () => {
    corked = false;
    response.uncork();
  };
  return {
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
      if (response.destroyed || response.writableEnded) return;
      if (!corked) {
        corked = true;
        response.cork();
        process.nextTick(uncork);
      }
      response.write(frame);
    },
  };
}
