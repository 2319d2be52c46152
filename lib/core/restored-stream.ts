import { interruptedEpochOf } from './event-id.js';
import type { ResolvedStreamOptions } from './options.js';
import { isFinishedState } from './stream-event.js';
import type { RestoredStreamState, StreamHooks } from './stream-origin.js';
import { ResumableStream } from './stream.js';

/**
 * A stream brought back from its stored metadata (no longer in memory, or the process restarted):
 * served from the store as far as it was stored; read-only.
 */
export class RestoredStream extends ResumableStream {
  /** @internal Made by the registry's locator. */
  constructor(id: string, options: ResolvedStreamOptions, hooks: StreamHooks, origin: RestoredStreamState) {
    super(id, options, hooks, origin);
    this.restore(origin);
  }

  private restore(restored: RestoredStreamState): void {
    this.persistence.stop();
    if (isFinishedState(restored.state)) {
      this.currentState = restored.state;
      this.endedAt = restored.finishedAt ?? Date.now();
      this.abortController.abort(new Error('restored from the store'));
      this.turn.streamEnded(this.currentState);
      return;
    }
    // Its producer's process ended before the stream did: served as far as it was stored, then a
    // final error event. Clients may have seen ids past the stored ones, so the final event takes
    // an epoch of its own (the same on every restore, as the event is in memory only).
    this.currentState = 'running';
    this.log.continueUnder(interruptedEpochOf(this.epoch));
    const data = {
      status: 'failed',
      message: 'The stream was interrupted: its producer stopped before it finished.',
      reason: 'interrupted',
    };
    this.append(this.options.eventTypes.error, JSON.stringify(data), undefined);
    this.settle('failed');
  }
}
