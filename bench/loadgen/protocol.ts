/**
 * Commands the runner sends to the load generator process over IPC, and their results. All
 * times are epoch ms (performance.timeOrigin + performance.now()) of the load generator's clock,
 * so scenarios subtract times from one clock only.
 */

export interface ConnectResult {
  /** Clients whose response head said 200. */
  opened: number;
  /** Clients that got another status or no response. */
  failed: number;
  /** Response statuses seen (0: the connection failed before a response head). */
  statuses: Record<string, number>;
  startedAt: number;
  /** When the last response head arrived (or the last failure). */
  finishedAt: number;
}

export interface Position {
  lastEventId: string;
  n: number;
}

export interface WaitResult {
  clients: number;
  /** Clients whose last sequence reached n. */
  reached: number;
  /** When the last of them reached it; null when not all did. */
  reachedAt: number | null;
  timedOut: boolean;
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

export interface GroupReport {
  clients: number;
  /** Bench events received (data with an `n`). */
  events: number;
  /** Sequences skipped between two received events. */
  gaps: number;
  /** Events received again (n at or below the last one received). */
  duplicates: number;
  /** Sequences not received by the end: upToN minus each client's last n. */
  missing: number;
  /** Events whose data carries no `n` (e.g. a library's reset or final event), by type. */
  otherEvents: Record<string, number>;
  /** Connections the server ended or broke while the client still wanted them. */
  closedEarly: number;
  socketErrors: number;
  bytes: number;
  latency: LatencySummary;
}

export interface CpuResult {
  wallMs: number;
  /** CPU time of the load generator over the window, in % of one core. */
  loadgenPercent: number;
  /** CPU time of the server process (from /proc/<pid>/stat), in % of one core; NaN if unreadable. */
  serverPercent: number;
}

/** Every command: its arguments and its result. */
export interface Commands {
  /** Opens `count` new clients of GET `path` in `group`; resolves when every one has a response head. */
  connect: {
    args: {
      group: string;
      port: number;
      path: string;
      count: number;
      /** Connections with no response head yet, at most. */
      concurrency: number;
      /** Record latencies of events with n >= this (default: none). */
      latencyFromN?: number;
      /** The new clients connect with this Last-Event-ID, as if they had received sequence `n`. */
      resumeFrom?: Position;
      /** Source address of the group's connections (set by the group's first connect). */
      localAddress?: string;
    };
    result: ConnectResult;
  };
  /** Where the group's first client stands: the id and sequence of the last event it received. */
  position: { args: { group: string }; result: Position };
  /** Destroys every client's socket, keeping what it saw (its last event id and sequence). */
  drop: { args: { group: string }; result: { dropped: number } };
  /** Reopens every dropped client with its Last-Event-ID; resolves like connect. */
  reconnect: { args: { group: string; concurrency: number }; result: ConnectResult };
  /** Resolves when every client of the group received sequence n, or nothing arrived for stallMs. */
  waitFor: { args: { group: string; n: number; stallMs: number }; result: WaitResult };
  /** POST /publish from the load generator, so the publish time is on its clock. */
  publish: {
    args: { port: number; channel: string; count: number; size: number; rate: number };
    result: { sentAt: number };
  };
  report: { args: { group: string; upToN: number }; result: GroupReport };
  /** From now on, the group records latencies of events with n >= `n` only (earlier ones dropped). */
  measureLatencyFrom: { args: { group: string; n: number }; result: Record<string, never> };
  /** The latencies the group recorded, in ms (to merge several processes' groups). */
  latencies: { args: { group: string }; result: number[] };
  /** Destroys and forgets the group. */
  close: { args: { group: string }; result: { closed: number } };
  /** Destroys and forgets every group (after a failed scenario). */
  closeAll: { args: Record<string, never>; result: { closed: number } };
  /** Collects this process's garbage (closed clients) now, rather than during the next measurement. */
  gc: { args: Record<string, never>; result: Record<string, never> };
  /** Starts a CPU window for the load generator and the server process. */
  cpuStart: { args: { serverPid: number }; result: Record<string, never> };
  cpuStop: { args: Record<string, never>; result: CpuResult };
}

export type CommandName = keyof Commands;

export interface Request<K extends CommandName = CommandName> {
  id: number;
  cmd: K;
  args: Commands[K]['args'];
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
