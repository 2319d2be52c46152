import type { EventStore, StoredEvent, StoredStreamMeta } from '../../lib/core/event-store.js';

/**
 * An event store in memory that can be taken down (every call rejects, as with a database that is
 * away) and brought back. Tells waiters of every write attempt, so a test waits on attempts,
 * never on time.
 */
export class SwitchableStore implements EventStore {
  readonly events = new Map<string, StoredEvent[]>();
  private readonly metas = new Map<string, StoredStreamMeta>();
  down = false;
  /** Write attempts (committed or refused), and how many events each carried. */
  readonly attempts: { streamId: string; events: number; committed: boolean }[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  async append(meta: StoredStreamMeta, events: readonly StoredEvent[]): Promise<void> {
    await Promise.resolve();
    const committed = !this.down;
    if (committed) {
      const held = this.events.get(meta.streamId) ?? [];
      const last = held.at(-1)?.sequence ?? 0;
      if (events[0] && events[0].sequence !== last + 1) throw new Error(`gap or duplicate at ${events[0].sequence}`);
      held.push(...events.map(({ sequence, type, data }) => ({ sequence, type, data })));
      this.events.set(meta.streamId, held);
      this.metas.set(meta.streamId, meta);
    }
    this.attempts.push({ streamId: meta.streamId, events: events.length, committed });
    for (const waiter of this.waiters.filter((w) => this.attempts.length >= w.count)) waiter.resolve();
    if (!committed) throw new Error('store down (test)');
  }

  async readAfter(streamId: string, after: number, limit: number): Promise<StoredEvent[]> {
    if (this.down) throw new Error('store down (test)');
    return (this.events.get(streamId) ?? []).filter((event) => event.sequence > after).slice(0, limit);
  }

  async loadMeta(streamId: string): Promise<StoredStreamMeta | undefined> {
    if (this.down) throw new Error('store down (test)');
    return this.metas.get(streamId);
  }

  /** Sequences stored for a stream. */
  sequences(streamId: string): number[] {
    return (this.events.get(streamId) ?? []).map((event) => event.sequence);
  }

  /** Resolves once `more` further write attempts were made. */
  nextAttempts(more = 1): Promise<void> {
    const count = this.attempts.length + more;
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}
