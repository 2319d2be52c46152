import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { runWithFlowControl, type FlowControl } from '../core/flow-control.js';

interface RawResponse {
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
  destroy(): unknown;
}

/** Backpressure of a Node.js HTTP response, for the stream engine. */
export function responseFlowControl(response: RawResponse): FlowControl {
  return {
    isBackedUp: () => response.writableNeedDrain || response.destroyed,
    onceWritable: (listener) => {
      // A turn of the event loop first, so that what Nest queued reaches the socket and the
      // next look at writableNeedDrain means something.
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
    },
    abort: () => response.destroy(),
  };
}

/**
 * Gives streams returned by an `@Sse()` handler the backpressure of the HTTP response: catch-up
 * of any size is paced by the socket (Nest would otherwise queue all of it and drop the client
 * past `maxPendingDataLength`), and a client that stops reading is cut after
 * `maxClientBacklogBytes` of missed live events, its queued data released. `@ResumableSse()`
 * applies it.
 */
@Injectable()
export class StreamFlowInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const response = context.switchToHttp().getResponse<{ raw?: RawResponse } & Partial<RawResponse>>();
    const raw = (response?.raw ?? response) as RawResponse | undefined;
    if (context.getType() !== 'http' || typeof raw?.once !== 'function') return next.handle();
    const flow = responseFlowControl(raw);
    // Nest binds the handler's subscription to the async context in which handle() is called.
    return new Observable((subscriber) => runWithFlowControl(flow, () => next.handle().subscribe(subscriber)));
  }
}
