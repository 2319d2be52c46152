import type { EventStore } from './event-store.js';
import { restoreEvent } from './event-store.js';
import type { StreamLogger } from './logger.js';
import type { CatchupEvent, ResolvedStreamOptions } from './options.js';
import { assertSseField, serializeData } from './sse-format.js';
import type { HistoryPage } from './stream-client.js';
import type { StreamEvent } from './stream-event.js';

/**
 * The store tier of one stream, as clients read it: pages of stored events, or first the custom
 * catch-up function's aggregated events.
 */
export class StreamHistory {
  constructor(
    private readonly streamId: string,
    private readonly epoch: string,
    private readonly options: ResolvedStreamOptions,
    private readonly store: EventStore,
    private readonly logger: StreamLogger,
    /** The store no longer holds this stream (purged or deleted): the registry lets go of it. */
    private readonly onGone?: () => void,
  ) {}

  /** Events after `afterSequence`, up to what is stored through `throughSequence`. */
  async read(afterSequence: number, throughSequence: number, first: boolean): Promise<HistoryPage> {
    // A page is what a client that stops reading holds: never more than it may fall behind.
    const maxBytes = Math.min(this.options.historyPageBytes, this.options.maxClientBacklogBytes);
    try {
      if (first && this.options.catchup) {
        const request = { streamId: this.streamId, epoch: this.epoch, afterSequence, throughSequence, maxBytes };
        const answer = await this.options.catchup(request);
        const events = withinBytes(answer, maxBytes, (event) => this.fromCatchup(event));
        if (events.length > 0) return { events, aggregated: true };
      }
      const { historyPageSize } = this.options;
      const stored = await this.store.readAfter(this.streamId, afterSequence, historyPageSize, maxBytes);
      const events = withinBytes(stored, maxBytes, (event) => restoreEvent(event, this.epoch));
      if (!continues(events, afterSequence, throughSequence)) await this.short(afterSequence, throughSequence);
      return { events, aggregated: false };
    } catch (error) {
      if (error instanceof StoredHistoryGoneError) throw error;
      this.logger.error(
        `Stream ${this.streamId}: reading events after ${afterSequence} from the store failed; the client is disconnected and resumes when it reconnects. ${String(error)}`,
        error instanceof Error ? error.stack : undefined,
      );
      throw error;
    }
  }

  /**
   * A page that stops short of what the stream's metadata promised (empty, or with a hole) means
   * its rows were deleted while it was read (store retention, `registry.delete()`): the client's
   * connection ends rather than take it as the end, and on reconnecting it gets 404, or, should
   * the rows still be there, every event.
   */
  private async short(afterSequence: number, throughSequence: number): Promise<never> {
    let gone = false;
    try {
      gone = (await this.store.loadMeta(this.streamId))?.epoch !== this.epoch;
    } catch {
      // The store is unreachable: the stream is not known to be gone, so it stays.
    }
    if (gone) this.onGone?.();
    this.logger.debug?.(
      `Stream ${this.streamId}: the store returned less than events ${afterSequence + 1} to ${throughSequence}${gone ? '; it no longer holds the stream' : ''}. The client is disconnected.`,
    );
    throw new StoredHistoryGoneError(this.streamId, afterSequence);
  }

  private fromCatchup(event: CatchupEvent): StreamEvent {
    const type = event.type ?? this.options.eventTypes.message;
    assertSseField('type', type);
    return restoreEvent({ sequence: event.sequence, type, data: serializeData(event.data) }, this.epoch);
  }
}

/** Thrown to end a client whose stored history came back short (see `StreamHistory.short()`). */
export class StoredHistoryGoneError extends Error {
  constructor(streamId: string, afterSequence: number) {
    super(`Stream ${streamId}: the store no longer holds the events after ${afterSequence}.`);
    this.name = 'StoredHistoryGoneError';
  }
}

/** Whether a page continues exactly after `afterSequence`, with no hole, when events are due. */
function continues(events: readonly StreamEvent[], afterSequence: number, throughSequence: number): boolean {
  if (events.length === 0) return afterSequence >= throughSequence;
  return events.every((event, index) => event.sequence === afterSequence + 1 + index);
}

/**
 * The leading events whose data fits in `maxBytes` (always the first): what a client keeps of a
 * page, whatever a store or catch-up function returned.
 */
function withinBytes<T>(items: readonly T[], maxBytes: number, toEvent: (item: T) => StreamEvent): StreamEvent[] {
  const events: StreamEvent[] = [];
  let bytes = 0;
  for (const item of items) {
    const event = toEvent(item);
    if (events.length > 0 && bytes + event.bytes > maxBytes) break;
    events.push(event);
    bytes += event.bytes;
  }
  return events;
}
