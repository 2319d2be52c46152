import type { Subscriber } from 'rxjs';
import { waitUntilWritable, type FlowControl, type FrameWriter } from './flow-control.js';
import type { ObservableSource } from './observe-stream.js';
import { frameOf, HEARTBEAT_FRAME } from './sse-frame.js';
import type { HeartbeatListener } from './heartbeat.js';
import type { ClientSink, StreamClient } from './stream-client.js';
import type { SseMessage } from './stream-event.js';

/**
 * One client whose events are written as shared frames straight to its connection: no
 * Observable emission, no per-client serialisation, no promise per event. The Observable it
 * belongs to only completes: once the client ends, or at once when the writer owns the
 * connection (it has `end()`), which then lives on by itself, detached when it closes. Frames made before the connection is open
 * (replay, or a finished stream read in one go) wait, bounded by the backpressure pause.
 */
export function attachDirectClient(
  source: ObservableSource,
  lastEventId: string | null | undefined,
  flow: FlowControl,
  writer: FrameWriter,
  subscriber: Subscriber<SseMessage>,
  heartbeat: boolean,
): () => void {
  let open = false;
  let ended = false;
  // Declared before the client is attached: it can end (a finished stream) during attach().
  let beating = false;
  // A writer that owns its connection ends it itself; the Observable only carried the attach.
  const owned = writer.end !== undefined;
  // Closures below use this, never the parameter: an owned connection must not keep the
  // subscriber (and, through its finalizers, the caller's whole operator chain) alive.
  const completing: Subscriber<SseMessage> | undefined = owned ? undefined : subscriber;
  const finish = () => {
    writer.flush?.();
    if (owned) writer.end!();
    else completing?.complete();
  };
  const early: Buffer[] = [];
  let cancelWait: (() => void) | undefined;

  const write = (frame: Buffer): boolean => {
    if (!open) {
      early.push(frame);
      return false;
    }
    writer.write(frame);
    return !flow.isBackedUp();
  };
  const sink: ClientSink & HeartbeatListener = {
    write: (event) => {
      if (write(frameOf(event))) return true;
      // Not open yet: opening resumes the client.
      if (!open) return false;
      const wait = waitUntilWritable(
        flow,
        () => (cancelWait = undefined),
        () => client.resume(),
      );
      cancelWait = wait.writableNow ? undefined : wait.cancel;
      return wait.writableNow;
    },
    end: (reason) => {
      ended = true;
      cancelWait?.();
      stopBeating();
      if (reason === 'slow') {
        flow.abort();
        finish();
      } else if (open) {
        finish();
      }
      // Otherwise completion waits for the connection to open and take what was framed.
    },
    beat: () => {
      if (open && !flow.isBackedUp()) writer.write(HEARTBEAT_FRAME);
    },
  };
  const client: StreamClient = source.attach(sink, lastEventId, (message) => {
    write(frameOf(message));
  });
  const cancelOpen = writer.whenOpen(() => {
    open = true;
    for (const frame of early.splice(0)) writer.write(frame);
    if (ended) finish();
    else if (!flow.isBackedUp()) client.resume();
    else cancelWait = flow.onceWritable(() => client.resume());
  });
  beating = heartbeat && !client.isClosed && source.heartbeatEnabled;
  if (beating) source.addHeartbeat(sink);
  function stopBeating() {
    if (beating) source.removeHeartbeat(sink);
    beating = false;
  }
  const detach = () => {
    cancelOpen();
    cancelWait?.();
    stopBeating();
    client.close('unsubscribed');
  };
  if (!owned) return detach;
  writer.onClose?.(detach);
  // Nothing of the caller's subscription is kept for the life of the connection.
  subscriber.complete();
  return () => undefined;
}
