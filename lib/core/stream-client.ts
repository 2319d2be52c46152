import type { StreamEvent } from './stream-event.js';

/** Why a client stopped receiving events. */
export type ClientEndReason =
  /** It received the final event of a finished stream. */
  | 'finished'
  /** Its consumer left (unsubscribed, the connection closed). */
  | 'unsubscribed'
  /** It fell further behind than its backlog bound, or behind what is buffered: it must reconnect. */
  | 'slow'
  /** The registry is shutting down. */
  | 'shutdown';

/** Events read from the store tier for one client. */
export interface HistoryPage {
  /** The events, oldest first. */
  readonly events: readonly StreamEvent[];
  /** True for a custom catch-up function's aggregated events, whose sequences may skip. */
  readonly aggregated: boolean;
}

/** Where a client is delivered to. `write` returns false when the consumer is backed up. */
export interface ClientSink {
  /** Delivers one event; returns false when the consumer is backed up (the client pauses). */
  write(event: StreamEvent): boolean;
  /** The client ended, and why; nothing is written after it. */
  end(reason: ClientEndReason): void;
}

/** What a client reads from: the stream's buffered events and where the stream stands. */
export interface ClientSource {
  readonly lastSequence: number;
  readonly isFinished: boolean;
  /** Total bytes of data ever sent on the stream. */
  readonly sentBytes: number;
  eventAt(sequence: number): StreamEvent | undefined;
  /** Bytes ever sent through this sequence, if still known; `sentBytes` minus it is a backlog. */
  endOffset(sequence: number): number | undefined;
  /** The oldest event still in memory (the next to come when none is). */
  readonly firstHeldSequence: number;
  /** Whether events after `sequence` that are no longer buffered can be read from the store. */
  canReadHistory(sequence: number): boolean;
  /**
   * Reads events after `sequence` from the store tier, oldest first. `first` is true on a
   * client's first read, where a custom catch-up function may answer with aggregated events
   * (each carrying the sequence of the last event it covers).
   */
  readHistory(sequence: number, first: boolean): Promise<HistoryPage>;
  detach(client: StreamClient, reason: ClientEndReason): void;
  /** Counts what pumps write, for metrics (a shared object: a write, not a call, per pump). */
  readonly delivered?: DeliveryCount;
}

/** Events written to clients, and their bytes of data. */
export interface DeliveryCount {
  events: number;
  bytes: number;
}

/**
 * One subscriber, reduced to a cursor: the sequence of the last event it was given. It reads
 * every event after its cursor straight from the shared replay buffer, so replay and live
 * delivery are the same loop and an event can be neither skipped nor delivered twice. Its memory
 * does not grow with its backlog. A client that cannot keep up is cut (and resumes by
 * reconnecting), never handed a sequence with holes.
 */
export class StreamClient {
  private paused = false;
  private pumping = false;
  private closed = false;
  /** The smallest backlog this client has had: how close to live it has ever been. */
  private smallestBacklog = Infinity;
  /**
   * A page read from the store tier, bounded by `historyPageBytes`; each event is let go once
   * delivered, so a client that stops reading holds at most the rest of one page.
   */
  private history: (StreamEvent | undefined)[] = [];
  private historyIndex = 0;
  private fetching = false;
  private historyReads = 0;
  /** Bytes ever sent through the cursor, when known; stays exact while the client is stalled. */
  private cursorEnd: number | undefined;
  /** The stream's `sentBytes` when the client last paused: how much it has missed since. */
  private sentBytesAtPause = 0;

  /** @internal Made by `ResumableStream.attach()`. */
  constructor(
    private readonly source: ClientSource,
    private cursor: number,
    private readonly sink: ClientSink,
    private readonly maxBacklogBytes: number,
  ) {
    this.cursorEnd = source.endOffset(cursor);
  }

  /** Sequence of the last event this client was given. */
  get position(): number {
    return this.cursor;
  }

  /** Whether the client has ended (see {@link ClientEndReason}). */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Delivers everything after the cursor until the consumer backs up. Called when the client is
   * attached, after every event appended to the stream, and on resume.
   */
  pump(): void {
    // A sink may send or unsubscribe from inside write(); the running loop picks that up.
    if (this.closed || this.pumping || this.fetching) return;
    if (this.paused) {
      this.cutIfTooFarBehind();
      return;
    }
    this.pumping = true;
    // Counted here and reported once per pump: this loop runs for every client on every event.
    let events = 0;
    let bytes = 0;
    try {
      while (!this.closed && !this.paused && this.cursor < this.source.lastSequence) {
        const event = this.source.eventAt(this.cursor + 1) ?? this.nextFromHistory();
        if (!event) {
          if (this.source.canReadHistory(this.cursor)) {
            this.fetchHistory();
          } else {
            // The events it still needs left memory before it read them, and no store has them.
            this.close('slow');
          }
          return;
        }
        this.cursor = event.sequence;
        this.cursorEnd = this.source.endOffset(event.sequence);
        events++;
        bytes += event.bytes;
        if (!this.sink.write(event)) {
          this.paused = true;
          this.sentBytesAtPause = this.source.sentBytes;
        }
      }
    } finally {
      this.pumping = false;
      const delivered = this.source.delivered;
      if (delivered) {
        delivered.events += events;
        delivered.bytes += bytes;
      }
    }
    // Without an object: this runs for every client on every event.
    const exact = this.exactBacklog();
    if (exact !== undefined) this.smallestBacklog = Math.min(this.smallestBacklog, exact);
    if (!this.closed && this.source.isFinished && this.cursor >= this.source.lastSequence) {
      this.close('finished');
    }
  }

  /** The consumer drained: continue from the cursor. */
  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Stops delivery, tells the sink why and leaves the stream. Idempotent. */
  close(reason: ClientEndReason): void {
    if (this.closed) return;
    this.closed = true;
    this.source.detach(this, reason);
    this.sink.end(reason);
  }

  private nextFromHistory(): StreamEvent | undefined {
    while (this.historyIndex < this.history.length) {
      const event = this.history[this.historyIndex]!;
      this.history[this.historyIndex++] = undefined;
      if (event.sequence > this.cursor) return event;
    }
    this.history = [];
    this.historyIndex = 0;
    return undefined;
  }

  private fetchHistory(): void {
    this.fetching = true;
    const after = this.cursor;
    this.source.readHistory(after, this.historyReads++ === 0).then(
      (page) => {
        this.fetching = false;
        if (this.closed) return;
        const next = page.events[0];
        // A store page must continue exactly after the cursor; anything else would be a gap.
        if (!next || (!page.aggregated && next.sequence !== after + 1) || next.sequence <= after) {
          this.close('slow');
          return;
        }
        this.history = [...page.events];
        this.historyIndex = 0;
        this.pump();
      },
      () => {
        this.fetching = false;
        this.close('slow');
      },
    );
  }

  /** Bytes of events after the cursor, when known exactly (the bytes through the cursor are). */
  private exactBacklog(): number | undefined {
    return this.cursorEnd === undefined ? undefined : this.source.sentBytes - this.cursorEnd;
  }

  /**
   * Bytes of events after the cursor. When the cursor is older than the buffer (the rest is in
   * the store), what the buffer holds is a lower bound, and `exact` is false.
   */
  private backlog(): { bytes: number; exact: boolean } {
    const exact = this.exactBacklog();
    if (exact !== undefined) return { bytes: exact, exact: true };
    const bufferStart = this.source.endOffset(this.source.firstHeldSequence - 1) ?? this.source.sentBytes;
    return { bytes: this.source.sentBytes - bufferStart, exact: false };
  }

  /**
   * Cut when the next event it needs is gone, or when it has fallen `maxBacklogBytes` further
   * behind than it has ever been. A late joiner's catch-up from history starts far behind and
   * only shrinks, so it never counts against it; a client that keeps losing ground does, also
   * once what it lacks has moved to the store, and so does one that stops reading mid-catch-up
   * while that much is sent.
   */
  private cutIfTooFarBehind(): void {
    const backlog = this.backlog();
    const nextNeeded = this.cursor < this.source.lastSequence ? this.cursor + 1 : undefined;
    const nextNeededGone =
      nextNeeded !== undefined && !this.source.eventAt(nextNeeded) && !this.source.canReadHistory(this.cursor);
    // Mid-catch-up (behind the buffer) there is no exact backlog: count what it missed since it stopped.
    const missed = backlog.exact ? backlog.bytes - this.smallestBacklog : this.source.sentBytes - this.sentBytesAtPause;
    if (nextNeededGone || missed > this.maxBacklogBytes) this.close('slow');
  }
}
