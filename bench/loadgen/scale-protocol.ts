/**
 * Commands of the scale scenario (bench/multi-scale.ts) to its load generator process
 * (./scale-worker.ts) over IPC, and their results. Times are epoch ms (see ../clock.ts): the
 * sample app's `t` and the worker's receive times come from one system clock.
 */

/** The sample app's POST /streams body, as the scenario uses it. */
export interface ScaleStreamBody {
  events: number;
  intervalMs: number;
  size: number;
}

export interface OpenArgs {
  /** Streams and clients of one group are reported and closed together ('load', 'idle'). */
  group: string;
  /** Ports of the sample-app instances; stream i is created on instance i % length. */
  ports: number[];
  streams: number;
  /** Stream i's client connects to instance (i + clientOffset) % length: 1 puts it on another one. */
  clientOffset: number;
  body: ScaleStreamBody;
  /**
   * Stream i sends its first event at startAt + (i / streams) * spreadMs (its startDelayMs is
   * computed at creation), so the streams' timers do not all fire in the same millisecond.
   */
  startAt: number;
  spreadMs: number;
  /** Requests (POST then GET) in flight at once, at most. */
  concurrency: number;
  /** Events with an index below this are not in the latency figures. */
  warmupEvents: number;
}

export interface OpenResult {
  created: number;
  /** POSTs that failed (status or network): the scenario fails. */
  createFailed: number;
  /** Clients whose response head said 200. */
  opened: number;
  /** Clients that got another status or no response: the scenario fails. */
  failed: number;
  statuses: Record<string, number>;
  /** Streams created after their own start time (their startDelayMs was clamped to 0). */
  late: number;
  /** The first few errors, for the report. */
  errors: string[];
  startedAt: number;
  finishedAt: number;
}

export interface WaitArgs {
  group: string;
  /** Give up when no event arrived for this long... */
  stallMs: number;
  /** ...or at this epoch time, whichever comes first. */
  deadline: number;
}

export interface WaitResult {
  /** Every client's response ended after a final event. */
  complete: boolean;
  timedOut: boolean;
  /** Clients whose response ended (after a final event or not). */
  closed: number;
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ScaleReport {
  clients: number;
  /** text_delta events received. */
  events: number;
  /** Sequences skipped between two received events. */
  gaps: number;
  /** Events whose sequence was at or below the last one received. */
  duplicates: number;
  /** Events the streams were asked for and the client never got (body.events minus the last index received). */
  missing: number;
  /** Other events (the final `done`, `error`, `cancelled`...), by type. */
  otherEvents: Record<string, number>;
  /** Responses that ended after a final event. */
  ended: number;
  /** Responses that ended or broke without one. */
  closedEarly: number;
  socketErrors: number;
  latency: LatencySummary;
  /** text_delta events received, by the 100 ms slot of their send time `t` (floor(t / 100)). */
  sentPerSlot: Record<string, number>;
}

export interface Commands {
  /** Creates the group's streams and connects one client to each; resolves once every response head arrived. */
  open: { args: OpenArgs; result: OpenResult };
  wait: { args: WaitArgs; result: WaitResult };
  report: { args: { group: string }; result: ScaleReport };
  /** DELETE /streams/:id of every stream of the group, on its producing instance. */
  cancel: { args: { group: string }; result: { statuses: Record<string, number> } };
  /** Destroys the group's clients and forgets it. */
  close: { args: { group: string }; result: { closed: number } };
}

export type CommandName = keyof Commands;

export interface Request<K extends CommandName = CommandName> {
  id: number;
  cmd: K;
  args: Commands[K]['args'];
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
