import type { EventStore } from './event-store.js';
import { parseEventId } from './event-id.js';
import { eventsPerBusRead, type ResolvedStreamOptions } from './options.js';
import type { StreamDescriptor } from './stream-descriptor.js';
import { STREAM_ID_PATTERN } from './registry-options.js';
import type { StreamBus } from './stream-bus.js';
import { StreamLimitError } from './errors.js';
import type { StreamMetrics } from './stream-metrics.js';
import { FollowedStream } from './followed-stream.js';
import { RestoredStream } from './restored-stream.js';
import type { ResumableStream, StreamHooks } from './stream.js';

/** What the locator needs from its registry. */
export interface LocatingRegistry {
  readonly streams: Map<string, ResumableStream>;
  readonly store: EventStore | undefined;
  readonly bus: StreamBus | undefined;
  readonly hooks: StreamHooks;
  readonly maxStreams: number;
  readonly metrics: StreamMetrics;
  readonly closed: boolean;
  /** A stream followed from the bus is let go once no client of this instance has read it for a while. */
  followed(stream: ResumableStream): void;
  /** A stream brought back from the store is kept for its retention like any finished stream. */
  retain(stream: ResumableStream): void;
  /** The options of a stream described elsewhere: its portable options over this registry's defaults. */
  optionsOf(id: string, descriptor: StreamDescriptor | undefined): ResolvedStreamOptions;
  /** A stream from the bus or the store gets the `authorize` it was created with (by name). */
  described(stream: ResumableStream): void;
}

/**
 * Finds a registry's streams beyond its memory: followed from another instance through the bus,
 * or brought back from the store. One lookup per id at a time, however many clients ask.
 */
export class StreamLocator {
  private readonly restoring = new Map<string, Promise<ResumableStream | undefined>>();

  constructor(private readonly registry: LocatingRegistry) {}

  /**
   * The stream with this id from memory or, with a store, brought back from it (a finished stream
   * after its retention, or any stream after a restart), or undefined. Use it where you can wait,
   * e.g. in a guard, before the synchronous `observe()`.
   */
  async locate(id: string, lastEventId?: string | null): Promise<ResumableStream | undefined> {
    const ready = this.locateInMemory(id, lastEventId);
    if (ready) return ready;
    let stream = this.registry.streams.get(id);
    if (!stream && (this.registry.store || this.registry.bus) && STREAM_ID_PATTERN.test(id)) {
      let pending = this.restoring.get(id);
      if (!pending) {
        pending = this.bringBack(id).finally(() => this.restoring.delete(id));
        this.restoring.set(id, pending);
      }
      stream = await pending;
    }
    if (stream?.seesEventsLate && lastEventId) await this.catchUpWith(stream, lastEventId);
    return stream;
  }

  /**
   * What `locate()` resolves to without waiting, or undefined when it would have to wait: the
   * stream is held here, and it is not shared through a bus or `lastEventId` needs no waiting for it.
   */
  locateInMemory(id: string, lastEventId?: string | null): ResumableStream | undefined {
    const stream = this.registry.streams.get(id);
    return stream && !(stream.seesEventsLate && lastEventId) ? stream : undefined;
  }

  /** From the bus (produced on another instance), else from the store. */
  private async bringBack(id: string): Promise<ResumableStream | undefined> {
    if (this.registry.streams.size >= this.registry.maxStreams)
      throw new StreamLimitError('maxStreams', this.registry.maxStreams, 'The registry');
    return (
      (this.registry.bus && (await this.followFromBus(this.registry.bus, id))) ??
      (this.registry.store && (await this.restore(id)))
    );
  }

  private async followFromBus(bus: StreamBus, id: string): Promise<ResumableStream | undefined> {
    const info = await bus.lookup(id);
    if (!info || this.registry.closed) return undefined;
    const [first] = await bus.read(id, 0, 1);
    const startAfter = first ? first.sequence - 1 : info.persistedThrough;
    const origin = {
      kind: 'follower' as const,
      epoch: info.epoch,
      startAfter,
      persistedThrough: info.persistedThrough,
    };
    const options = this.registry.optionsOf(id, info.descriptor);
    const stream = new FollowedStream(id, options, this.registry.hooks, origin);
    // Filled with what the bus holds before anyone attaches, then fed live; pages bounded in bytes.
    const pageEvents = eventsPerBusRead(options);
    for (let after = startAfter; !stream.isFinished;) {
      const page = await bus.read(id, after, pageEvents);
      page.forEach((event) => stream.ingest(event));
      if (page.length < pageEvents) break;
      after = page.at(-1)!.sequence;
    }
    const existing = this.registry.streams.get(id);
    if (existing) return existing;
    this.registry.described(stream);
    this.registry.streams.set(id, stream);
    this.registry.metrics.located.bus++;
    if (!stream.isFinished) stream.followBus(bus);
    this.registry.followed(stream);
    return stream;
  }

  /**
   * A client may come from another instance with an id the bus has not delivered here yet (in
   * flight; on the producing instance too, whose events are its own once the bus replied): wait
   * for it briefly rather than answer "ahead of the stream".
   */
  private async catchUpWith(stream: ResumableStream, lastEventId: string): Promise<void> {
    let wanted: number;
    try {
      const position = parseEventId(lastEventId);
      // Another epoch is a reset, not an id in flight; a malformed id is the guard's 400.
      if (position.epoch !== stream.epoch) return;
      wanted = position.sequence;
    } catch {
      return;
    }
    await stream.whenIssued(wanted, 2_000);
  }

  private async restore(id: string): Promise<ResumableStream | undefined> {
    const meta = await this.registry.store!.loadMeta(id);
    const existing = this.registry.streams.get(id);
    if (existing || !meta || this.registry.closed) return existing;
    const restored = {
      epoch: meta.epoch,
      lastSequence: meta.lastSequence,
      state: meta.status,
      finishedAt: meta.finishedAt?.getTime(),
    };
    const options = this.registry.optionsOf(id, meta.descriptor);
    const stream = new RestoredStream(id, options, this.registry.hooks, restored);
    this.registry.described(stream);
    this.registry.streams.set(id, stream);
    this.registry.metrics.located.store++;
    // Served from the store alone; kept for the retention like any finished stream.
    this.registry.retain(stream);
    return stream;
  }
}
