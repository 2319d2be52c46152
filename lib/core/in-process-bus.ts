import { randomUUID } from 'node:crypto';
import { StreamAlreadyExistsError } from './errors.js';
import type {
  AppendOutcome,
  BusEvent,
  BusFollower,
  BusOpenOptions,
  BusStreamInfo,
  ControlMessage,
  StreamBus,
} from './stream-bus.js';
import type { StreamDescriptor } from './stream-descriptor.js';
import type { StreamState } from './stream-event.js';

interface Channel {
  epoch: string;
  status: StreamState;
  persistedThrough: number;
  events: BusEvent[];
  /** Bytes of data of `events`. */
  bytes: number;
  followers: Set<BusFollower>;
  /** The producer's control handler while it runs. */
  onControl?: (message: ControlMessage) => unknown;
  readonly descriptor?: StreamDescriptor;
}

/** Limits of what {@link InProcessStreamBus} keeps per stream beyond what is stored. */
export interface InProcessStreamBusOptions {
  /** Most events kept per stream, as `RedisStreamBus`'s `maxLength`. Default 10000. */
  readonly maxLength?: number;
  /** Most bytes of event data kept per stream. Default 16 MiB. */
  readonly maxBytes?: number;
}

/**
 * The bus of one process: registries that share this object share their streams, with no
 * server. The default (each registry alone) needs no bus at all; this one serves registries
 * side by side in one process, and is the reference for the bus contract.
 */
export class InProcessStreamBus implements StreamBus {
  private readonly channels = new Map<string, Channel>();
  /** `field=value` -> the stream last opened with it, while it runs (see `findActive()`). */
  private readonly active = new Map<string, string>();
  private readonly maxLength: number;
  private readonly maxBytes: number;

  constructor(options: InProcessStreamBusOptions = {}) {
    this.maxLength = options.maxLength ?? 10_000;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  }

  async open(streamId: string, epoch: string, options: BusOpenOptions): Promise<void> {
    const held = this.channels.get(streamId);
    if (held?.epoch === epoch) return;
    if (held) throw new StreamAlreadyExistsError(streamId);
    const channel = { epoch, status: 'running' as const, persistedThrough: 0, events: [], bytes: 0 };
    const { onControl, descriptor } = options;
    this.channels.set(streamId, { ...channel, followers: new Set(), onControl, descriptor });
    for (const entry of descriptor?.active ?? []) this.active.set(entry, streamId);
  }

  async findActive(entry: string): Promise<string | undefined> {
    return this.active.get(entry);
  }

  /** One process cannot lose its own lease: every append of a running stream is accepted. */
  async append(streamId: string, events: readonly BusEvent[]): Promise<AppendOutcome> {
    const channel = this.channels.get(streamId);
    for (const event of events) {
      if (!channel || (channel.events.at(-1)?.sequence ?? 0) >= event.sequence) continue;
      channel.events.push(event);
      channel.bytes += Buffer.byteLength(event.data);
      // The oldest go first, as Redis caps a stream: a follower that needs them is told of the gap.
      while (channel.events.length > 1 && (channel.events.length > this.maxLength || channel.bytes > this.maxBytes)) {
        channel.bytes -= Buffer.byteLength(channel.events.shift()!.data);
      }
      if (event.final) this.ended(streamId, channel, event.final);
      for (const follower of channel.followers) follower.event(event);
    }
    return { accepted: true };
  }

  async control(streamId: string, message: ControlMessage): Promise<boolean> {
    const onControl = this.channels.get(streamId)?.onControl;
    if (!onControl) return false;
    // Delivered on a later turn, as a message from another instance would be.
    setImmediate(() => onControl(message));
    return true;
  }

  async request(streamId: string, message: ControlMessage): Promise<unknown> {
    const onControl = this.channels.get(streamId)?.onControl;
    if (!onControl) return undefined;
    const request = { ...message, id: randomUUID() };
    // A later turn, as control(): so messages of one sender keep their order.
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(onControl(request));
        } catch (error) {
          reject(error);
        }
      }),
    );
  }

  private ended(streamId: string, channel: Channel, status: StreamState): void {
    channel.status = status;
    channel.onControl = undefined;
    for (const entry of channel.descriptor?.active ?? [])
      if (this.active.get(entry) === streamId) this.active.delete(entry);
  }

  persisted(streamId: string, throughSequence: number): void {
    const channel = this.channels.get(streamId);
    if (!channel) return;
    channel.persistedThrough = Math.max(channel.persistedThrough, throughSequence);
    for (const follower of channel.followers) follower.stored?.(channel.persistedThrough);
    channel.events = channel.events.filter((event) => event.sequence > channel.persistedThrough);
    channel.bytes = channel.events.reduce((bytes, event) => bytes + Buffer.byteLength(event.data), 0);
  }

  close(streamId: string, retentionMs: number): void {
    const channel = this.channels.get(streamId);
    if (channel) channel.onControl = undefined;
    // Only this channel: after a delete, the id may hold a new stream by then.
    setTimeout(() => {
      if (this.channels.get(streamId) === channel) this.channels.delete(streamId);
    }, retentionMs).unref();
  }

  async delete(streamId: string): Promise<boolean> {
    const channel = this.channels.get(streamId);
    if (!channel) return false;
    this.ended(streamId, channel, channel.status);
    this.channels.delete(streamId);
    return true;
  }

  async lookup(streamId: string): Promise<BusStreamInfo | undefined> {
    const channel = this.channels.get(streamId);
    return (
      channel && {
        streamId,
        epoch: channel.epoch,
        status: channel.status,
        persistedThrough: channel.persistedThrough,
        descriptor: channel.descriptor,
      }
    );
  }

  async read(streamId: string, afterSequence: number, limit: number): Promise<BusEvent[]> {
    const events = this.channels.get(streamId)?.events ?? [];
    return events.filter((event) => event.sequence > afterSequence).slice(0, limit);
  }

  follow(streamId: string, afterSequence: number, follower: BusFollower): () => void {
    const channel = this.channels.get(streamId);
    if (!channel) return () => undefined;
    for (const event of channel.events) if (event.sequence > afterSequence) follower.event(event);
    channel.followers.add(follower);
    return () => channel.followers.delete(follower);
  }

  /** Nothing to release: the registries of a process share this bus, and one of them stopping leaves the others' streams. */
  async shutdown(): Promise<void> {}
}
