import type { PersistFunction } from './event-store.js';
import { ClientFacingStream } from './stream-clients.js';
import type { PersistResult, StreamPersistence } from './stream-persistence.js';

/**
 * What a stream offers about its store: how far it is written, writing now, and waiting while
 * too much is unwritten. `ResumableStream` is the one that holds the events.
 */
export abstract class PersistingStream extends ClientFacingStream {
  protected abstract readonly persistence: StreamPersistence;

  /** Every event up to this sequence is in the store. */
  get persistedThrough(): number {
    return this.persistence.persistedThrough;
  }

  /** Resolves once the stream takes events again: under its unstored limits (see `maxUnstoredBytes`), or finished. */
  writable(): Promise<void> {
    return this.persistence.writable();
  }

  /**
   * Writes every event issued so far to the store (or with `writer`), keeping them in memory.
   * Concurrent calls queue; none writes an event twice. A stream brought back from the store has
   * nothing to write (`persisted: 0`); one produced on another instance rejects with
   * `StreamProducedElsewhereError` (409) while it holds events its producer has not stored.
   */
  persist(writer?: PersistFunction): Promise<PersistResult> {
    return this.persistence.persist(writer);
  }

  /**
   * Writes every event issued so far in one transaction, then removes exactly those from memory.
   * Events sent during the write stay buffered; a failed write keeps everything and rejects.
   * Clients that need removed events read them from the store. See `persist()` for streams
   * brought back from the store or produced elsewhere.
   */
  persistAndClear(writer?: PersistFunction): Promise<PersistResult> {
    return this.persistence.persistAndClear(writer);
  }
}
