import { Observable } from 'rxjs';
import { currentFlowControl, waitUntilWritable, type FlowControl } from './flow-control.js';
import { HEARTBEAT } from './heartbeat.js';
import { attachDirectClient } from './observe-direct.js';
import type { StreamClient, ClientSink } from './stream-client.js';
import type { SseMessage } from './stream-event.js';

/** Options of one `observe()` call. */
export interface ObserveOptions {
  /** Merge heartbeat comments into the observable (default true, when the stream's heartbeatMs > 0). */
  readonly heartbeat?: boolean;
  /**
   * Backpressure of the consumer. Default: the one set by `runWithFlowControl()` (the NestJS
   * `StreamFlowInterceptor` sets it), else none: everything is emitted as soon as it exists.
   */
  readonly flowControl?: FlowControl;
}

/** What the Observable adapter needs from a stream. */
export interface ObservableSource {
  readonly heartbeatEnabled: boolean;
  attach(sink: ClientSink, lastEventId?: string | null, preamble?: (message: SseMessage) => void): StreamClient;
  addHeartbeat(listener: () => void): void;
  removeHeartbeat(listener: () => void): void;
}

/** Bytes of events handed to a flow-controlled consumer before it is asked whether it can take more. */
const BURST_BYTES = 64 * 1024;
/** What an event costs against that budget beyond its data (field names, id, type). */
const EVENT_OVERHEAD_BYTES = 64;

/**
 * A stream's clients as an RxJS Observable: one client per subscription, paced by the flow
 * control when there is one, completing after the final event (or when the client is cut).
 */
export function observeStream(
  source: ObservableSource,
  lastEventId: string | null | undefined,
  options: ObserveOptions,
): Observable<SseMessage> {
  return new Observable<SseMessage>((subscriber) => {
    const flow = options.flowControl ?? currentFlowControl();
    if (flow?.frames) {
      return attachDirectClient(source, lastEventId, flow, flow.frames, subscriber, options.heartbeat !== false);
    }
    let budget = BURST_BYTES;
    let cancelWait: (() => void) | undefined;
    const sink: ClientSink = {
      write: (event) => {
        subscriber.next(event);
        if (!flow) return true;
        budget -= event.bytes + EVENT_OVERHEAD_BYTES;
        if (budget > 0 && !flow.isBackedUp()) return true;
        const wait = waitUntilWritable(
          flow,
          () => {
            cancelWait = undefined;
            budget = BURST_BYTES;
          },
          () => client.resume(),
        );
        cancelWait = wait.writableNow ? undefined : wait.cancel;
        return wait.writableNow;
      },
      // Even a cut client completes: an error would reach Nest, which numbers it with its own id.
      end: (reason) => {
        cancelWait?.();
        if (reason === 'slow') flow?.abort();
        subscriber.complete();
      },
    };
    const client = source.attach(sink, lastEventId, (message) => subscriber.next(message));
    if (client.isClosed || options.heartbeat === false || !source.heartbeatEnabled) {
      return () => client.close('unsubscribed');
    }
    const beat = () => subscriber.next(HEARTBEAT);
    source.addHeartbeat(beat);
    return () => {
      source.removeHeartbeat(beat);
      client.close('unsubscribed');
    };
  });
}
