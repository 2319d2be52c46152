import { StreamNotFoundError } from './errors.js';
import { STREAM_ID_PATTERN } from './registry-options.js';
import type { StreamBus } from './stream-bus.js';
import { isFinishedState, type StreamState } from './stream-event.js';
import type { ResumableStream } from './stream.js';
import { within } from './within.js';

/** How long a cancel sent to another instance waits for the stream's final event. */
const CANCEL_WAIT_MS = 5_000;

/** What cancelling needs from its registry. */
export interface CancellingRegistry {
  readonly bus: StreamBus | undefined;
  get(id: string): ResumableStream | undefined;
  locate(id: string): Promise<ResumableStream | undefined>;
}

/**
 * Cancels a stream wherever it is produced: here at once, on another instance through the bus's
 * control channel (then waits, briefly, for the final event every instance gets). Idempotent: a
 * stream that has already ended answers with the state it ended in. `soft`: the producer is not
 * aborted (see `ResumableStream.softCancel()`).
 */
export async function cancelStream(
  registry: CancellingRegistry,
  id: string,
  reason: string,
  soft = false,
): Promise<StreamState> {
  if (!STREAM_ID_PATTERN.test(id)) throw new StreamNotFoundError(id);
  const held = registry.get(id);
  if (held && !held.follower) {
    if (soft) held.softCancel(reason);
    else held.cancel(reason);
  }
  const info = held && !held.follower ? undefined : await registry.bus?.lookup(id);
  if (info && !isFinishedState(info.status)) {
    // Sent before following, so the producer stops as early as it can.
    await registry.bus!.control(id, { type: soft ? 'soft-cancel' : 'cancel', reason });
  }
  const stream = held ?? (await registry.locate(id));
  if (!stream) throw new StreamNotFoundError(id);
  if (!stream.isFinished) await within(stream.whenEnded(), CANCEL_WAIT_MS);
  return stream.state;
}
