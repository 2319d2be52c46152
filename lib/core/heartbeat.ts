import type { HeartbeatMessage } from './stream-event.js';

/** The heartbeat message: a comment line (`: heartbeat`) that clients ignore. */
export const HEARTBEAT: HeartbeatMessage = Object.freeze({ comment: 'heartbeat' });

/** What a heartbeat is delivered to: a client's sink, so that no closure is made per client. */
export interface HeartbeatListener {
  beat(): void;
}

/** One timer per stream, running only while someone listens: not one timer per client. */
export class HeartbeatTicker {
  private readonly listeners = new Set<HeartbeatListener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  add(listener: HeartbeatListener): void {
    this.listeners.add(listener);
    if (!this.timer && this.intervalMs > 0) {
      this.timer = setInterval(() => {
        for (const listener of this.listeners) listener.beat();
      }, this.intervalMs).unref();
    }
  }

  remove(listener: HeartbeatListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.stop();
  }

  stop(): void {
    this.listeners.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
