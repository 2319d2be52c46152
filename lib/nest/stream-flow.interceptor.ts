import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { runWithFlowControl, type FlowControl } from '../core/flow-control.js';
import { nodeResponseOf } from './node-response.js';
import type { FrameResponse, ResponseFrameWriter } from './response-frame-writer.js';

interface RawResponse {
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
  destroy(): unknown;
}

/**
 * Bytes a directly written response may hold unsent before a client is paused. Above Node's
 * 16 KiB write threshold so that a burst goes out in one corked write, small enough that a
 * stalled client costs little.
 */
export const DIRECT_HIGH_WATER_BYTES = 64 * 1024;

/** Backpressure of a Node.js HTTP response, for the stream engine. */
export function responseFlowControl(response: RawResponse): FlowControl {
  return {
    isBackedUp: () => response.writableNeedDrain || response.destroyed,
    onceWritable: (listener) => onceWritable(response, listener),
    abort: () => response.destroy(),
  };
}

/** A response the engine writes frames to itself. */
export type DirectRawResponse = RawResponse & FrameResponse;

/** Backpressure of a response the engine writes frames to itself (see `DirectSseInterceptor`). */
export function directResponseFlowControl(response: DirectRawResponse, frames: ResponseFrameWriter): FlowControl {
  return {
    isBackedUp: () => frames.backlog >= DIRECT_HIGH_WATER_BYTES || response.destroyed,
    // Frames may go straight to the socket, which then, not the response, says when it drained.
    onceWritable: (listener) =>
      response.socket?.writableNeedDrain
        ? onceWritable(response.socket as unknown as RawResponse, listener)
        : onceWritable(response, listener),
    abort: () => response.destroy(),
    frames,
  };
}

function onceWritable(response: RawResponse, listener: () => void): () => void {
  // A turn of the event loop first, so that what was queued reaches the socket and the next look
  // at the backlog means something.
  let immediate: NodeJS.Immediate | undefined;
  const later = () => {
    immediate = setImmediate(listener);
  };
  if (!response.writableNeedDrain) {
    later();
    return () => clearImmediate(immediate);
  }
  response.once('drain', later);
  return () => {
    response.off('drain', later);
    clearImmediate(immediate);
  };
}

/** The Node.js response of an HTTP execution context (Fastify's `reply.raw`), if any. */
export function rawResponseOf(context: ExecutionContext): DirectRawResponse | undefined {
  if (context.getType() !== 'http') return undefined;
  // The response by index: `switchToHttp()` adds three closures to the context on each call.
  return nodeResponseOf<DirectRawResponse>(context.getArgByIndex(1), 'once');
}

/** Runs the route handler's subscription with `flow` as the flow control of its streams. */
export function withFlowControl(flow: FlowControl, next: CallHandler): Observable<unknown> {
  // Nest binds the handler's subscription to the async context in which handle() is called.
  return new Observable((subscriber) => runWithFlowControl(flow, () => next.handle().subscribe(subscriber)));
}

/**
 * Gives streams returned by an `@Sse()` handler the backpressure of the HTTP response: catch-up
 * of any size is paced by the socket (Nest would otherwise queue all of it and drop the client
 * past `maxPendingDataLength`), and a client that stops reading is cut after
 * `maxClientBacklogBytes` of missed live events, its queued data released. Events still travel
 * through Nest's `@Sse()` pipeline, so interceptors that map them see them.
 * `@ResumableSse(path, { pipeline: 'nest' })` applies it.
 */
@Injectable()
export class StreamFlowInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const raw = rawResponseOf(context);
    return raw ? withFlowControl(responseFlowControl(raw), next) : next.handle();
  }
}
