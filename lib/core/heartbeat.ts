import type { HeartbeatMessage } from './stream-event.js';

/** The heartbeat message: a comment line (`: heartbeat`) that clients ignore. */
export const HEARTBEAT: HeartbeatMessage = Object.freeze({ comment: 'heartbeat' });

/** What a heartbeat is delivered to: a client's sink, so that no closure is made per client. */
export interface HeartbeatListener {
  beat(): void;
}

/**
 * One timer per stream, running only while someone listens: not one timer per client. A beat
 * goes out only once the stream has sent nothing for a whole interval: a stream that sends events
 * keeps its connections alive by itself, and beating every client of it anyway would cost a
 * write per connection per interval for nothing (1,300 writes a second at 19,000 connections).
 */
export class HeartbeatTicker {
  private readonly listeners = new Set<HeartbeatListener>();
  private timer: NodeJS.Timeout | undefined;
  /** When the stream last wrote to its listeners (an event, or a beat), by `performance.now()`. */
  private lastWriteAt = 0;

  constructor(private readonly intervalMs: number) {}

  add(listener: HeartbeatListener): void {
    this.listeners.add(listener);
    if (!this.timer && this.intervalMs > 0) {
      this.lastWriteAt = performance.now();
      this.schedule(this.intervalMs);
    }
  }

  remove(listener: HeartbeatListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.stop();
  }

  /** The stream delivered something to its clients: the next beat is an interval from now. Once per event, not per client. */
  wrote(): void {
    if (this.timer) this.lastWriteAt = performance.now();
  }

  stop(): void {
    this.listeners.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(this.tick, delayMs).unref();
  }

  private readonly tick = (): void => {
    const silentMs = performance.now() - this.lastWriteAt;
    if (silentMs < this.intervalMs) return this.schedule(this.intervalMs - silentMs);
    const timer = this.timer;
    for (const listener of this.listeners) listener.beat();
    this.lastWriteAt = performance.now();
    // A beat may have ended the last client, and a new one started another timer.
    if (this.timer === timer) this.schedule(this.intervalMs);
  };
}
