import { waitUntilWritable } from '../core/flow-control.js';
import type { HeartbeatListener } from '../core/heartbeat.js';
import type { ResumePoint } from '../core/resume.js';
import { frameOf, HEARTBEAT_FRAME } from '../core/sse-frame.js';
import type { ClientEndReason, ClientSink, StreamClient } from '../core/stream-client.js';
import type { SseMessage, StreamEvent } from '../core/stream-event.js';
import type { ResumableStream } from '../core/stream.js';
import type { SseConnection } from './sse-connection.js';
import type { SseWireFormat } from './sse-wire-format.js';

/**
 * Serves `stream` on an open connection from `point`: each event's frame, made once and shared by
 * every client, is written to the connection, paced by its backpressure; heartbeats while it
 * runs; the response ends after the final event, and a client cut for being slow is dropped.
 * The client leaves the stream when the connection closes. `format` writes the messages in another
 * wire format (the AI SDK's UI message stream); by default, the library's SSE.
 */
export function serveStream(
  stream: ResumableStream,
  connection: SseConnection,
  point: ResumePoint,
  options: { readonly heartbeat?: boolean; readonly format?: SseWireFormat } = {},
): StreamClient {
  const format = options.format;
  const frame = format ? (message: SseMessage) => format.frameOf(message, stream) : frameOf;
  const sink = new ConnectionSink(connection, stream, frame);
  const client = stream.attach(sink, point, (message) => connection.write(frame(message)));
  sink.client = client;
  if (!client.isClosed) {
    connection.onClose(() => client.close('unsubscribed'));
    if (options.heartbeat !== false && stream.heartbeatEnabled) sink.startBeating();
  }
  return client;
}

/** One client's sink, heartbeat listener and wait for the connection, in one object per connection. */
class ConnectionSink implements ClientSink, HeartbeatListener {
  client: StreamClient | undefined;
  private cancelWait: (() => void) | undefined;
  private beating = false;

  constructor(
    private readonly connection: SseConnection,
    private readonly stream: ResumableStream,
    private readonly frame: (message: SseMessage) => Buffer,
  ) {}

  write(event: StreamEvent): boolean {
    const connection = this.connection;
    connection.write(this.frame(event));
    if (!connection.isBackedUp()) return true;
    const wait = waitUntilWritable(
      connection,
      () => (this.cancelWait = undefined),
      () => this.client?.resume(),
    );
    this.cancelWait = wait.writableNow ? undefined : wait.cancel;
    return wait.writableNow;
  }

  end(reason: ClientEndReason): void {
    this.cancelWait?.();
    if (this.beating) this.stream.removeHeartbeat(this);
    this.beating = false;
    if (reason === 'slow') this.connection.abort();
    else this.connection.end();
  }

  beat(): void {
    if (!this.connection.isBackedUp()) this.connection.write(HEARTBEAT_FRAME);
  }

  startBeating(): void {
    this.beating = true;
    this.stream.addHeartbeat(this);
  }
}
