import type { HeartbeatMessage } from './stream-event.js';

/** The heartbeat message: a comment line (`: heartbeat`) that clients ignore. */
export const HEARTBEAT: HeartbeatMessage = Object.freeze({ comment: 'heartbeat' });

/** One timer per stream, running only while someone listens: not one timer per client. */
export class HeartbeatTicker {
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  add(listener: () => void): void {
    this.listeners.add(listener);
    if (!this.timer && this.intervalMs > 0) {
      this.timer = setInterval(() => {
        for (const beat of this.listeners) beat();
      }, this.intervalMs).unref();
    }
  }

  remove(listener: () => void): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.stop();
  }

  stop(): void {
    this.listeners.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
