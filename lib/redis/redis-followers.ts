import type { Cluster, Redis } from 'ioredis';
import type { StreamLogger } from '../core/logger.js';
import type { BusEvent, BusFollower } from '../core/stream-bus.js';
import { streamKeys, type StreamKeys } from './redis-keys.js';
import { parseChannelMessage, toBusEvent } from './redis-scripts.js';
import type { ChannelSubscriptions } from './redis-subscriptions.js';

/** Delay before reading again after a failed read, doubled up to the maximum. */
const RETRY_MS = { first: 100, max: 2_000 };

/**
 * One follow() of a stream: live events come from its shard channel, what it missed (before it
 * subscribed, during a reconnect, a hole in the messages) from the Redis Stream with XRANGE, at
 * most `batchEvents` per read. Events are de-duplicated by sequence and delivered in order.
 */
class Follow {
  private last: number;
  /** The newest message's events while a read runs: Redis may have lost them (see fill()). */
  private newest: BusEvent[] | undefined;
  private filling = false;
  private refill = false;
  private retryMs = RETRY_MS.first;
  /** How far the producer has stored the stream, as last reported. */
  private storedThrough = 0;
  /** The final event's sequence, once delivered, while the follower waits for it to be stored. */
  private finalSequence: number | undefined;
  stopped = false;

  constructor(
    private readonly keys: StreamKeys,
    afterSequence: number,
    private readonly follower: BusFollower,
    private readonly commands: Redis | Cluster,
    private readonly logger: StreamLogger,
    private readonly end: () => void,
  ) {
    this.last = afterSequence;
  }

  get channel(): string {
    return this.keys.eventsChannel;
  }

  message(raw: string): void {
    const message = parseChannelMessage(raw);
    if (!message) return void this.logger.warn(`Ignored a malformed message on ${this.keys.eventsChannel}.`);
    if ('storedThrough' in message) return this.stored(message.storedThrough);
    const events = message.events.filter((event) => event.sequence > this.last);
    if (events.length === 0 || this.stopped) return;
    if (!this.filling && events[0].sequence === this.last + 1) return this.deliver(events);
    // A hole (or a read running): the stream in Redis has these events and any before them.
    this.newest = events;
    void this.fill();
  }

  /** Reads what the follower has not had from the Redis Stream, then goes on live. */
  async fill(): Promise<void> {
    if (this.filling) return void (this.refill = true);
    this.filling = true;
    try {
      while (!this.stopped) {
        this.refill = false;
        await this.readToEnd();
        // A message came during the read: the read may have run before its events were written.
        if (this.stopped || this.refill) continue;
        const newest = this.newest?.filter((event) => event.sequence > this.last);
        this.newest = undefined;
        // Announced before a read that did not find them: Redis lost them (a restart). The
        // message still has its own events.
        if (newest?.length) await this.deliverAfterGap(newest);
        if (!this.refill) break;
      }
      this.retryMs = RETRY_MS.first;
    } catch (error) {
      if (this.stopped) return;
      this.logger.warn(`Reading ${this.keys.events} failed (${(error as Error).message}); retrying.`);
      setTimeout(() => void this.fill(), this.retryMs).unref();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MS.max);
    } finally {
      this.filling = false;
    }
  }

  /** Tells the follower how far the producer stored the stream (once, when it starts). */
  async reportStored(): Promise<void> {
    const stored = await this.commands.hget(this.keys.meta, 'persistedThrough');
    if (stored !== null && !this.stopped) this.stored(Number(stored));
  }

  private stored(throughSequence: number): void {
    this.storedThrough = Math.max(this.storedThrough, throughSequence);
    this.follower.stored?.(throughSequence);
    if (this.finalSequence !== undefined && this.storedThrough >= this.finalSequence) this.end();
  }

  /** The final event was delivered: the follow ends, or, for a follower that waits for it, once it is stored. */
  private ended(sequence: number): void {
    if (this.follower.storedToEnd && this.storedThrough < sequence) this.finalSequence = sequence;
    else this.end();
  }

  private async readToEnd(): Promise<void> {
    // A reply's data is held until delivered: the follower bounds how many events it may hold.
    const batch = Math.max(1, this.follower.batchEvents ?? 500);
    while (!this.stopped) {
      const entries = await this.commands.xrange(this.keys.events, `(${this.last}-0`, '+', 'COUNT', batch);
      if (this.stopped || entries.length === 0) return;
      await this.deliverAfterGap(entries.map(([id, fields]) => toBusEvent(id, fields)));
      if (entries.length < batch) return;
    }
  }

  /** Delivers events that may not follow the last one: the follower hears of the hole first. */
  private async deliverAfterGap(events: BusEvent[]): Promise<void> {
    if (events[0].sequence > this.last + 1) {
      // Redis dropped or lost them: the store may have them, if the producer stored them.
      await this.reportStored();
      if (this.stopped) return;
      this.follower.gap(this.last, events[0].sequence);
    }
    this.deliver(events);
  }

  private deliver(events: BusEvent[]): void {
    for (const event of events) {
      if (this.stopped || event.sequence <= this.last) continue;
      this.last = event.sequence;
      this.follower.event(event);
      if (event.final) return this.ended(event.sequence);
    }
  }
}

/**
 * The followed streams of one bus, multiplexed on its subscriber connection: a followed stream
 * with no new events costs no command at all, and each event reaches this instance in one message
 * however many of its clients follow.
 */
export class RedisFollowers {
  private readonly follows = new Set<Follow>();

  constructor(
    private readonly prefix: string,
    private readonly commands: Redis | Cluster,
    private readonly subscriptions: ChannelSubscriptions,
    private readonly logger: StreamLogger,
  ) {}

  follow(streamId: string, afterSequence: number, follower: BusFollower): () => void {
    const keys = streamKeys(this.prefix, streamId);
    const handler = (message: string) => follow.message(message);
    const stop = () => {
      if (follow.stopped) return;
      follow.stopped = true;
      this.follows.delete(follow);
      this.subscriptions.remove(keys.eventsChannel, handler);
    };
    const follow: Follow = new Follow(keys, afterSequence, follower, this.commands, this.logger, stop);
    this.follows.add(follow);
    // Subscribed first, read second: an event appended in between is in one or the other.
    void this.subscriptions.add(keys.eventsChannel, handler).then(async () => {
      if (follow.stopped) return;
      await follow.reportStored().catch(() => undefined);
      await follow.fill();
    });
    return stop;
  }

  /** After the subscriber connection came back: each stream reads what Pub/Sub dropped meanwhile. */
  refillAll(): void {
    for (const follow of this.follows) {
      void this.subscriptions.confirm(follow.channel).then(() => follow.fill());
    }
  }

  stopAll(): void {
    for (const follow of [...this.follows]) follow.stopped = true;
    this.follows.clear();
  }
}
