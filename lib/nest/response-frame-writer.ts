import type { FrameWriter } from '../core/flow-control.js';
import { joinFrames } from '../core/sse-frame.js';

/** What the direct path needs of a Node.js HTTP response (Express `Response`, Fastify `reply.raw`). */
export interface FrameResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableLength: number;
  write(chunk: Buffer): boolean;
}

/** How long the direct path waits for Nest to send the response head before it gives up. */
const OPEN_TIMEOUT_MS = 10_000;

/** A {@link FrameWriter} on a response, with what it holds for the end of the turn. */
export interface ResponseFrameWriter extends FrameWriter {
  /** Bytes written in this turn and not yet handed to the response. */
  readonly pendingBytes: number;
  flush(): void;
}

/**
 * Writes SSE frames straight to a response whose head NestJS's `@Sse()` sends (or the direct
 * path sent). Frames written in one turn of the event loop are handed to the response together,
 * in one write, at the end of the turn (a microtask): a burst of events costs each client one
 * write instead of one per event, and clients level with each other share the joined buffer.
 */
export function responseFrameWriter(response: FrameResponse): ResponseFrameWriter {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = () => {
    const frames = pending;
    pending = [];
    pendingBytes = 0;
    if (frames.length > 0 && !response.destroyed && !response.writableEnded) response.write(joinFrames(frames));
  };
  return {
    get pendingBytes() {
      return pendingBytes;
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
      if (response.destroyed || response.writableEnded) return;
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(frame);
      pendingBytes += frame.length;
    },
    flush,
  };
}
