import { epochNow } from '../clock.js';
import { BenchClient, type ClientSink } from './bench-client.js';
import type { ConnectResult, GroupReport, LatencySummary, Position, WaitResult } from './protocol.js';

const T_FIELD = '"t":';

/**
 * Clients of one scenario that connect, drop and reconnect together. Keeps the totals (events,
 * gaps, duplicates, latencies) in one place rather than per client, so 10,000 clients cost
 * little more than their sockets.
 */
export class ClientGroup implements ClientSink {
  readonly clients: BenchClient[] = [];
  bytes = 0;
  closedEarly = 0;
  socketErrors = 0;
  private events = 0;
  private gaps = 0;
  private duplicates = 0;
  private readonly otherEvents: Record<string, number> = {};
  private latencies: number[] = [];
  private latencyFromN = Infinity;
  private target = Infinity;
  private reachedCount = 0;
  private reachedAt = 0;

  constructor(
    private readonly port: number,
    private readonly path: string,
    /** The source address of every connection (default: the system's choice, 127.0.0.1). */
    private readonly localAddress?: string,
  ) {}

  connect(count: number, concurrency: number, latencyFromN?: number, resumeFrom?: Position): Promise<ConnectResult> {
    // Clients added to a group later keep the latencies it records (see measureLatencyFrom).
    if (latencyFromN !== undefined || this.clients.length === 0) this.latencyFromN = latencyFromN ?? Infinity;
    const added = Array.from({ length: count }, () => new BenchClient(this, resumeFrom));
    this.clients.push(...added);
    return this.open(added, concurrency);
  }

  reconnect(concurrency: number): Promise<ConnectResult> {
    return this.open(this.clients, concurrency);
  }

  /** From now on, records the latencies of events with n >= `n` only (those recorded so far are dropped). */
  measureLatencyFrom(n: number): void {
    this.latencyFromN = n;
    this.latencies = [];
  }

  /** The latencies recorded (ms), for merging the groups of several processes. */
  latencySamples(): number[] {
    return this.latencies;
  }

  position(): Position {
    const first = this.clients[0];
    if (!first) throw new Error('the group has no client');
    return first.position();
  }

  drop(): number {
    for (const client of this.clients) client.drop();
    return this.clients.length;
  }

  onSequence(client: BenchClient, n: number, data: string, at: number, receivedAt: number): void {
    this.events++;
    if (n <= client.lastN) this.duplicates++;
    else {
      this.gaps += n - client.lastN - 1;
      client.lastN = n;
    }
    if (n >= this.latencyFromN) {
      const t = data.indexOf(T_FIELD, at);
      if (t !== -1) this.latencies.push(receivedAt - parseFloat(data.slice(t + T_FIELD.length, t + 30)));
    }
    if (!client.reached && client.lastN >= this.target) {
      client.reached = true;
      this.reachedCount++;
      this.reachedAt = receivedAt;
    }
  }

  onOtherEvent(type: string): void {
    this.otherEvents[type] = (this.otherEvents[type] ?? 0) + 1;
  }

  /**
   * Resolves once every client received sequence n, or when no event arrived for stallMs (so a
   * broken target fails fast while a slow one may take its time). Call it before publishing:
   * the time recorded is when the last client got there.
   */
  waitFor(n: number, stallMs: number): Promise<WaitResult> {
    this.target = n;
    this.reachedCount = 0;
    this.reachedAt = 0;
    for (const client of this.clients) {
      client.reached = client.lastN >= n;
      if (client.reached) this.reachedCount++;
    }
    const result = (timedOut: boolean): WaitResult => ({
      clients: this.clients.length,
      reached: this.reachedCount,
      reachedAt: this.reachedCount === this.clients.length ? this.reachedAt || epochNow() : null,
      timedOut,
    });
    return new Promise((resolve) => {
      let seen = this.events;
      let lastProgress = performance.now();
      const check = setInterval(() => {
        if (this.reachedCount === this.clients.length) {
          clearInterval(check);
          resolve(result(false));
        } else if (this.events !== seen) {
          seen = this.events;
          lastProgress = performance.now();
        } else if (performance.now() - lastProgress > stallMs) {
          clearInterval(check);
          resolve(result(true));
        }
      }, 20);
    });
  }

  report(upToN: number): GroupReport {
    let missing = 0;
    for (const client of this.clients) missing += Math.max(0, upToN - client.lastN);
    return {
      clients: this.clients.length,
      events: this.events,
      gaps: this.gaps,
      duplicates: this.duplicates,
      missing,
      otherEvents: { ...this.otherEvents },
      closedEarly: this.closedEarly,
      socketErrors: this.socketErrors,
      bytes: this.bytes,
      latency: summariseLatencies(this.latencies),
    };
  }

  /** Opens clients with at most `concurrency` of them waiting for a response head. */
  private open(clients: BenchClient[], concurrency: number): Promise<ConnectResult> {
    const startedAt = epochNow();
    const statuses: Record<string, number> = {};
    let opened = 0;
    let settled = 0;
    let next = 0;
    let waiting = 0;
    return new Promise((resolve) => {
      const finish = () => resolve({ opened, failed: settled - opened, statuses, startedAt, finishedAt: epochNow() });
      if (clients.length === 0) return finish();
      const launch = () => {
        while (waiting < concurrency && next < clients.length) {
          waiting++;
          clients[next++].open(
            this.port,
            this.path,
            (status) => {
              waiting--;
              settled++;
              if (status === 200) opened++;
              statuses[status] = (statuses[status] ?? 0) + 1;
              if (settled === clients.length) finish();
              else launch();
            },
            this.localAddress,
          );
        }
      };
      launch();
    });
  }
}

/** p50, p99 and max of latencies in ms. */
export function summariseLatencies(values: number[]): LatencySummary {
  if (values.length === 0) return { samples: 0, p50: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return { samples: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}
