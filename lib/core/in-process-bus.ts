import type { BusEvent, BusFollower, BusStreamInfo, StreamBus } from './stream-bus.js';
import type { StreamEvent, StreamState } from './stream-event.js';

interface Channel {
  epoch: string;
  status: StreamState;
  persistedThrough: number;
  events: BusEvent[];
  followers: Set<BusFollower>;
}

/**
 * The bus of one process: registries that share this object share their streams, with no
 * server. The default (each registry alone) needs no bus at all; this one serves registries
 * side by side in one process, and is the reference for the bus contract.
 */
export class InProcessStreamBus implements StreamBus {
  private readonly channels = new Map<string, Channel>();

  async open(streamId: string, epoch: string, _stored: boolean): Promise<void> {
    this.channels.set(streamId, { epoch, status: 'running', persistedThrough: 0, events: [], followers: new Set() });
  }

  publish(streamId: string, event: StreamEvent, final?: StreamState): void {
    const channel = this.channels.get(streamId);
    if (!channel || (channel.events.at(-1)?.sequence ?? 0) >= event.sequence) return;
    const busEvent: BusEvent = { sequence: event.sequence, type: event.type, data: event.data, final };
    channel.events.push(busEvent);
    if (final) channel.status = final;
    for (const follower of channel.followers) follower.event(busEvent);
  }

  persisted(streamId: string, throughSequence: number): void {
    const channel = this.channels.get(streamId);
    if (!channel) return;
    channel.persistedThrough = Math.max(channel.persistedThrough, throughSequence);
    for (const follower of channel.followers) follower.stored?.(channel.persistedThrough);
    channel.events = channel.events.filter((event) => event.sequence > channel.persistedThrough);
  }

  close(streamId: string, retentionMs: number): void {
    setTimeout(() => this.channels.delete(streamId), retentionMs).unref();
  }

  async lookup(streamId: string): Promise<BusStreamInfo | undefined> {
    const channel = this.channels.get(streamId);
    return (
      channel && { streamId, epoch: channel.epoch, status: channel.status, persistedThrough: channel.persistedThrough }
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

  async shutdown(): Promise<void> {
    this.channels.clear();
  }
}
