/** What a producer hands to `send()`. */
export interface EventInput {
  /** The SSE event type (`event:` line). Defaults to the stream's `eventTypes.message`. */
  readonly type?: string;
  /** A string is sent as it is (line breaks become several `data:` lines); anything else as JSON. */
  readonly data: unknown;
  /** A reconnection delay hint in ms for the client (`retry:` line). */
  readonly retry?: number;
}

/**
 * One event of a stream, as stored in the replay buffer and shared by every client. It is also a
 * valid NestJS `MessageEvent`: `data` is already serialised, so Nest writes it as it is instead of
 * calling `JSON.stringify` once per client.
 */
export interface StreamEvent {
  /** `<epoch>-<sequence>`, the id the client sends back as `Last-Event-ID`. */
  readonly id: string;
  /** The SSE event type (`event:` line). */
  readonly type: string;
  /** The serialised data: the string that was sent, or the JSON of the object that was sent. */
  readonly data: string;
  /** The reconnection delay hint in ms (`retry:` line), when the event was sent with one. */
  readonly retry?: number;
  /** 1, 2, 3, ... within the stream's history. */
  readonly sequence: number;
  /** The stream history this event belongs to. */
  readonly epoch: string;
  /** Size of `data` in UTF-8 bytes; what `maxEventBytes` and a client's backlog count. */
  readonly bytes: number;
}

/** A comment line (`: ...`) that keeps an idle connection open; clients ignore it. */
export interface HeartbeatMessage {
  /** The comment's text (`heartbeat`). */
  readonly comment: string;
}

/**
 * The first message of a connection when the stream has `retryMs`: an id-only block with the
 * `retry:` hint and the client's position. EventSource dispatches no event for it. Without
 * `retryMs` there is none: the position is the id the client sent, which it already has.
 */
export interface PositionMessage {
  /** The client's position: the id of the last event it has, or `<epoch>-0` before the first. */
  readonly id: string;
  /** The stream's `retryMs`, when set. */
  readonly retry?: number;
}

/**
 * Sent first (instead of the position marker, if any) to a client whose Last-Event-ID cannot be continued
 * without a gap. `data` is JSON: `{ reason, lastEventId, resumesAfter }`, where reason is
 * `unknown_epoch` (the id belongs to another history of the stream: discard what you have) or
 * `history_truncated` (events after your id are no longer held) or `history_lost` (your id is past
 * what was stored when the producer's process died: discard what you have). Events after
 * `resumesAfter` follow.
 */
export interface ResetMessage {
  /** The position the client continues from (`resumesAfter`). */
  readonly id: string;
  /** `reset`, or the stream's `eventTypes.reset`. */
  readonly type: string;
  /** JSON: `{ reason, lastEventId, resumesAfter }`. */
  readonly data: string;
  /** The stream's `retryMs`, when set. */
  readonly retry?: number;
}

/** Everything `observe()` emits; all of it can be returned from a NestJS `@Sse()` handler. */
export type SseMessage = StreamEvent | ResetMessage | HeartbeatMessage | PositionMessage;

/** Narrows an `observe()` message to a stream event (not a marker, reset or heartbeat). */
export function isStreamEvent(message: SseMessage): message is StreamEvent {
  return 'sequence' in message;
}

/** Lifecycle of a stream: pending -> running -> completed | failed | cancelled. */
export type StreamState = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

/** True for the three states a stream ends in. */
export function isFinishedState(state: StreamState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}
