import type { ServerResponse } from 'node:http';
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable, Subscriber, type Subscription } from 'rxjs';
import type { FlowControl } from '../core/flow-control.js';
import { setResumeHeader } from '../http/resume-header.js';
import { nodeResponseOf } from './node-response.js';
import { admissionOf, releaseAdmission, servedBy } from './stream-admission.js';

/** Backpressure of a Node.js HTTP response that Nest's `@Sse()` writes to, for the stream engine. */
export function responseFlowControl(response: ServerResponse): FlowControl {
  return {
    isBackedUp: () => response.writableNeedDrain || response.destroyed,
    onceWritable: (listener) => {
      // A turn first, so that what was queued reaches the socket and the next look means something.
      let immediate: NodeJS.Immediate | undefined;
      const later = () => (immediate = setImmediate(listener));
      if (response.writableNeedDrain) response.once('drain', later);
      else later();
      return () => {
        response.off('drain', later);
        clearImmediate(immediate);
      };
    },
    abort: () => response.destroy(),
  };
}

/**
 * `@ResumableSse(path, { pipeline: 'nest' })`: the admitted stream's events travel through
 * Nest's `@Sse()` pipeline, so interceptors that map or tap them see them, paced by the HTTP
 * response's backpressure: catch-up of any size follows the socket (Nest would otherwise queue
 * all of it and drop the client past `maxPendingDataLength`), and a client that stops reading is
 * cut after `maxClientBacklogBytes` of missed live events, its queued data released.
 */
@Injectable()
export class StreamFlowInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const raw = nodeResponseOf<ServerResponse>(context.getArgByIndex(1), 'once');
    const request = context.getArgByIndex<object>(0);
    const admission = admissionOf(request);
    if (!raw || !admission) return next.handle();
    return new Observable<unknown>((outer) => {
      let events: Subscription | undefined;
      const handler = new Subscriber<unknown>({
        next: (value) => {
          releaseAdmission(request);
          if (events) return;
          const serve = servedBy(value, admission);
          if (!serve) return outer.next(value);
          // The handler's own Observable (observe(), if it returned that) is let go at once.
          handler.unsubscribe();
          // Before Nest commits the head; the handler may serve another stream than the one admitted.
          setResumeHeader(raw, serve.point);
          const flowControl = responseFlowControl(raw);
          events = serve.stream.observe(serve.point, { flowControl }).subscribe(outer);
        },
        error: (error: unknown) => {
          releaseAdmission(request);
          outer.error(error);
        },
        complete: () => {
          releaseAdmission(request);
          if (!events) outer.complete();
        },
      });
      next.handle().subscribe(handler);
      return () => {
        handler.unsubscribe();
        events?.unsubscribe();
      };
    });
  }
}
