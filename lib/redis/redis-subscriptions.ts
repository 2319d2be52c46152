import type { Cluster, Redis } from 'ioredis';
import type { StreamLogger } from '../core/logger.js';
import type { RedisConnections } from './redis-connections.js';

type Handler = (message: string) => void;

/**
 * Every shard channel this bus listens to, on its one subscriber connection (with a Cluster, one
 * per master): subscribed while at least one handler wants it, each message dispatched by
 * channel. After the connection comes back, `onResubscribed` runs: what was published meanwhile
 * is lost to Pub/Sub, and its listeners read it from the streams.
 */
export class ChannelSubscriptions {
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly subscribed = new Map<string, Promise<void>>();
  private readonly subscriber: Redis | Cluster;
  private connectedOnce = false;

  constructor(
    connections: RedisConnections,
    private readonly logger: StreamLogger,
    onResubscribed: () => void,
  ) {
    this.subscriber = connections.subscriber;
    connections.listen(this.subscriber, 'smessage', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    // A single Redis says 'ready' on each connect; a Cluster's sharded subscribers say
    // 'subscribersReady' once ioredis subscribed them again after a topology change or a reconnect.
    const resubscribed = () => {
      if (this.connectedOnce) onResubscribed();
      this.connectedOnce = true;
    };
    connections.listen(this.subscriber, connections.cluster ? 'subscribersReady' : 'ready', resubscribed);
  }

  /**
   * Adds a handler of `channel`; resolves once the channel is subscribed (from then on no message
   * to it is missed while the connection holds).
   */
  add(channel: string, handler: Handler): Promise<void> {
    let handlers = this.handlers.get(channel);
    if (!handlers) this.handlers.set(channel, (handlers = new Set()));
    handlers.add(handler);
    let subscribed = this.subscribed.get(channel);
    if (!subscribed) {
      subscribed = this.subscribe(channel);
      this.subscribed.set(channel, subscribed);
    }
    return subscribed;
  }

  /** Subscribes `channel` again (no-op for Redis when it is) and resolves once it is. */
  confirm(channel: string): Promise<void> {
    return this.handlers.has(channel) ? this.subscribe(channel) : Promise.resolve();
  }

  /** Removes a handler; the channel is unsubscribed with its last one. */
  remove(channel: string, handler: Handler): void {
    const handlers = this.handlers.get(channel);
    if (!handlers?.delete(handler) || handlers.size > 0) return;
    this.handlers.delete(channel);
    this.subscribed.delete(channel);
    if (this.subscriber.status === 'end') return;
    this.subscriber
      .sunsubscribe(channel)
      .catch((error: Error) => this.logger.debug?.(`SUNSUBSCRIBE: ${error.message}`));
  }

  private subscribe(channel: string): Promise<void> {
    return this.subscriber.ssubscribe(channel).then(
      () => undefined,
      (error: Error) => {
        // The connection is gone for good (shutdown); a reconnect subscribes again by itself.
        if (this.subscriber.status !== 'end') this.logger.warn(`SSUBSCRIBE ${channel}: ${error.message}`);
      },
    );
  }
}
