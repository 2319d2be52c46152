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
  ) {}

  /** Events after `afterSequence`, up to what is stored through `throughSequence`. */
  async read(afterSequence: number, throughSequence: number, first: boolean): Promise<HistoryPage> {
    try {
      if (first && this.options.catchup) {
        const request = { streamId: this.streamId, epoch: this.epoch, afterSequence, throughSequence };
        const events = (await this.options.catchup(request)).map((event) => this.fromCatchup(event));
        if (events.length > 0) return { events, aggregated: true };
      }
      const stored = await this.store.readAfter(this.streamId, afterSequence, this.options.historyPageSize);
      return { events: stored.map((event) => restoreEvent(event, this.epoch)), aggregated: false };
    } catch (error) {
      this.logger.error(
        `Stream ${this.streamId}: reading events after ${afterSequence} from the store failed; the client is disconnected and resumes when it reconnects. ${String(error)}`,
        error instanceof Error ? error.stack : undefined,
      );
      throw error;
    }
  }

  private fromCatchup(event: CatchupEvent): StreamEvent {
    const type = event.type ?? this.options.eventTypes.message;
    assertSseField('type', type);
    return restoreEvent({ sequence: event.sequence, type, data: serializeData(event.data) }, this.epoch);
  }
}
