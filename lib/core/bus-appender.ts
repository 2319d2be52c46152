import type { AppendOutcome, BusEvent, StreamBus } from './stream-bus.js';
import type { StreamEvent, StreamState } from './stream-event.js';

/** Most bytes of event data in one append: a burst goes to the bus in several calls. */
const MAX_BATCH_BYTES = 1024 * 1024;

/** What an appender tells its stream. */
export interface AppenderSink {
  /** The bus holds these events (in order; the last one may be final): clients may see them. */
  accepted(events: readonly StreamEvent[], final: StreamState | undefined): void;
  /** The bus refused: another instance ended the stream. `ending` is what it holds from there on. */
  refused(ending: readonly BusEvent[]): void;
  /** The bus failed in a way no retry mends. */
  failed(error: unknown): void;
}

/**
 * A produced stream's events on their way through the bus: one append in flight, the events sent
 * meanwhile batched behind it. So the bus sees them in order, and a client sees an event only once
 * the bus holds it (the same history everywhere, whatever happens to this instance).
 */
export class BusAppender {
  private queue: StreamEvent[] = [];
  private queuedBytes = 0;
  private final: StreamState | undefined;
  private inFlight = false;
  private stopped = false;

  constructor(
    private readonly bus: StreamBus,
    private readonly streamId: string,
    private readonly sink: AppenderSink,
  ) {}

  /** Queues an event; `final` marks the stream's last one. */
  push(event: StreamEvent, final?: StreamState): void {
    if (this.stopped || this.final) return;
    this.queue.push(event);
    this.queuedBytes += event.bytes;
    this.final = final;
    if (!this.inFlight) this.flush();
  }

  /** Events queued and not yet accepted (they count against the stream's memory). */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  private flush(): void {
    if (this.stopped || this.queue.length === 0) return;
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || bytes + this.queue[count].bytes <= MAX_BATCH_BYTES)) {
      bytes += this.queue[count++].bytes;
    }
    const batch = this.queue.splice(0, count);
    this.queuedBytes -= bytes;
    const final = this.queue.length === 0 ? this.final : undefined;
    const events: BusEvent[] = batch.map(({ sequence, type, data }) => ({ sequence, type, data }));
    if (final) events[events.length - 1] = { ...events[events.length - 1], final };
    this.inFlight = true;
    this.bus.append(this.streamId, events).then(
      (outcome: AppendOutcome) => {
        this.inFlight = false;
        if (this.stopped) return;
        if (!outcome.accepted) {
          this.stop();
          this.sink.refused(outcome.ending);
          return;
        }
        this.sink.accepted(batch, final);
        this.flush();
      },
      (error: unknown) => {
        this.inFlight = false;
        this.stop();
        this.sink.failed(error);
      },
    );
  }

  /** Drops what is queued; nothing more is appended. */
  stop(): void {
    this.stopped = true;
    this.queue = [];
    this.queuedBytes = 0;
  }
}
