import { Observable, type Subscriber, type Unsubscribable } from 'rxjs';
import { waitUntilWritable, type FlowControl } from './flow-control.js';
import { HEARTBEAT, type HeartbeatListener } from './heartbeat.js';
import type { ResumePoint } from './resume.js';
import type { ClientEndReason, ClientSink, StreamClient } from './stream-client.js';
import type { SseMessage, StreamEvent } from './stream-event.js';

/** Options of one `observe()` call. */
export interface ObserveOptions {
  /** Merge heartbeat comments into the observable (default true, when the stream's heartbeatMs > 0). */
  readonly heartbeat?: boolean;
  /**
   * Backpressure of the consumer (`@ResumableSse(path, { pipeline: 'nest' })` gives the HTTP
   * response's). Default none: everything is emitted as soon as it exists.
   */
  readonly flowControl?: FlowControl;
}

/** What the Observable adapter needs from a stream. */
export interface ObservableSource {
  readonly heartbeatEnabled: boolean;
  attach(sink: ClientSink, from: ResumePoint, preamble?: (message: SseMessage) => void): StreamClient;
  addHeartbeat(listener: HeartbeatListener): void;
  removeHeartbeat(listener: HeartbeatListener): void;
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
  point: ResumePoint,
  options: ObserveOptions,
): Observable<SseMessage> {
  return new Observable<SseMessage>((subscriber) => {
    const sink = new SubscriberSink(subscriber, options.flowControl, source);
    sink.attach(point, options.heartbeat !== false);
    return sink;
  });
}

/**
 * One subscription's client: its sink, heartbeat listener and teardown in one object, as this is
 * made for every connection of Nest's own `@Sse()` pipeline (rather than a sink and four closures).
 */
class SubscriberSink implements ClientSink, HeartbeatListener, Unsubscribable {
  private client: StreamClient | undefined;
  private budget = BURST_BYTES;
  private cancelWait: (() => void) | undefined;
  private beating = false;

  constructor(
    private readonly subscriber: Subscriber<SseMessage>,
    private readonly flow: FlowControl | undefined,
    private readonly source: ObservableSource,
  ) {}

  attach(point: ResumePoint, heartbeat: boolean): void {
    const subscriber = this.subscriber;
    const client = this.source.attach(this, point, (message) => subscriber.next(message));
    this.client = client;
    if (client.isClosed || !heartbeat || !this.source.heartbeatEnabled) return;
    this.beating = true;
    this.source.addHeartbeat(this);
  }

  write(event: StreamEvent): boolean {
    // A subscriber that has left takes nothing more: the client pauses until it is closed.
    if (this.subscriber.closed) return false;
    this.subscriber.next(event);
    const flow = this.flow;
    if (!flow) return true;
    this.budget -= event.bytes + EVENT_OVERHEAD_BYTES;
    if (this.budget > 0 && !flow.isBackedUp()) return true;
    const wait = waitUntilWritable(
      flow,
      () => {
        this.cancelWait = undefined;
        this.budget = BURST_BYTES;
      },
      () => this.client?.resume(),
    );
    this.cancelWait = wait.writableNow ? undefined : wait.cancel;
    return wait.writableNow;
  }

  // Even a cut client completes: an error would reach Nest, which numbers it with its own id.
  end(reason: ClientEndReason): void {
    this.cancelWait?.();
    if (reason === 'slow') this.flow?.abort();
    this.subscriber.complete();
  }

  beat(): void {
    this.subscriber.next(HEARTBEAT);
  }

  unsubscribe(): void {
    if (this.beating) this.source.removeHeartbeat(this);
    this.beating = false;
    this.client?.close('unsubscribed');
  }
}
