import { eventsPerBusRead, lostEventOf, type ResolvedStreamOptions } from './options.js';
import type { BusEvent, StreamBus } from './stream-bus.js';
import type { FollowedStreamState, StreamHooks } from './stream-origin.js';
import { ResumableStream } from './stream.js';

/**
 * A local copy of a stream produced on another instance: its events arrive through the bus, in
 * order, with the producer's sequences; this instance's clients read them as from any stream.
 */
export class FollowedStream extends ResumableStream {
  private unfollow: (() => void) | undefined;
  /**
   * @internal The bus ended the stream for its lost producer: nobody will store the rest, so a
   * `commit` follower delivers it as the bus holds it rather than wait for ever.
   */
  producerLost = false;

  /** @internal Made by the registry's locator. */
  constructor(id: string, options: ResolvedStreamOptions, hooks: StreamHooks, origin: FollowedStreamState) {
    super(id, options, hooks, origin);
  }

  /**
   * @internal A follower's feed: appends an event produced on another instance, with its
   * sequence. Duplicates are ignored; the final event finishes the stream.
   */
  ingest(event: BusEvent): void {
    if (event.final && event.data === lostEventOf(this.options).data) this.producerLost = true;
    this.ingestEvent(event);
  }

  /**
   * @internal The bus lost events after `afterSequence`: they can only come from the store. If
   * it does not have them, memory starts over after the hole and clients that need the lost
   * events are cut, to be told with a `reset` when they reconnect.
   */
  override skipTo(afterSequence: number, nextSequence: number): void {
    if (this.persistence.hasStore && this.persistence.persistedThrough >= nextSequence - 1) {
      this.log.skipTo(nextSequence - 1);
      return;
    }
    this.hooks.logger.warn(
      `Stream ${this.id}: events ${afterSequence + 1} to ${nextSequence - 1} were lost by the bus and are not stored; clients that need them get a reset.`,
    );
    this.log.skipTo(nextSequence - 1);
    this.deliver();
  }

  /** @internal Starts following the producing instance through the bus. */
  followBus(bus: StreamBus): void {
    const stream = this;
    const follower = {
      event: (event: BusEvent) => {
        if (event.sequence > this.log.sequence) this.hooks.onBusEvent?.(event);
        this.ingest(event);
      },
      gap: (after: number, next: number) => this.skipTo(after, next),
      stored: (through: number) => this.storedThrough(through),
      batchEvents: eventsPerBusRead(this.options),
      get storedToEnd() {
        return stream.options.durability === 'commit' && !stream.producerLost;
      },
    };
    this.unfollow = bus.follow(this.id, this.log.sequence, follower);
  }

  /** @internal A follower learns how far the producer has stored. */
  storedThrough(throughSequence: number): void {
    this.persistence.advanceTo(throughSequence);
    // With commit durability, what clients may see grew.
    if (this.options.durability === 'commit') this.deliver();
  }

  override dispose(): void {
    this.unfollow?.();
    super.dispose();
  }
}
