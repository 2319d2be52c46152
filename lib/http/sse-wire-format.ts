import type { StreamEventTypes } from '../core/options.js';
import { formatSseMessage, frameOf } from '../core/sse-frame.js';
import { isStreamEvent, type SseMessage, type StreamEvent } from '../core/stream-event.js';
import type { ClientFacingStream } from '../core/stream-clients.js';

/**
 * How a stream's messages are written on the wire. The library's own SSE (`event:`, `id:`,
 * `data:`) is the default; {@link UI_MESSAGE_STREAM_FORMAT} writes the Vercel AI SDK's UI message
 * stream. A format makes each message's bytes once, for every client of that format.
 */
export interface SseWireFormat {
  /** Response headers of the format, sent with the SSE ones. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The bytes of one message of `stream`: an event, a reset or position marker, a heartbeat. */
  frameOf(message: SseMessage, stream: ClientFacingStream): Buffer;
}

/** The library's SSE, byte for byte what `@Sse()` writes. */
export const STANDARD_SSE_FORMAT: SseWireFormat = { frameOf: (message) => frameOf(message) };

/** The header the AI SDK's UI message stream is sent with (`UI_MESSAGE_STREAM_HEADERS` in `ai`). */
export const UI_MESSAGE_STREAM_HEADER = 'x-vercel-ai-ui-message-stream';

const DONE = 'data: [DONE]\n\n';
const uiFrames = new WeakMap<object, Buffer>();

/**
 * The Vercel AI SDK's UI message stream (`ai` 5 and 6): each event's data on one `data:` line,
 * without the `event:` line (the SDK's parser ignores it), the event's `id:` kept so that a
 * `Last-Event-ID` still resumes; the header `x-vercel-ai-ui-message-stream: v1`. The SDK rejects
 * any `data:` line that is not a UI message chunk, so the library's final events are written in
 * its terms: `done` becomes `data: [DONE]`; `error` a `{ type: 'error', errorText }` chunk, then
 * `[DONE]`; `cancelled` an `{ type: 'abort', reason }` chunk, then `[DONE]`. A `reset` marker is
 * sent as its id only (the UI stream has no word for it; the SDK never sends a Last-Event-ID).
 * The producer sends the chunks as events (`streamText(...).toUIMessageStream()` as it is).
 */
export const UI_MESSAGE_STREAM_FORMAT: SseWireFormat = {
  headers: { [UI_MESSAGE_STREAM_HEADER]: 'v1' },
  frameOf(message: SseMessage, stream: ClientFacingStream): Buffer {
    if (!isStreamEvent(message)) {
      // A heartbeat (comment) or a position marker (id only) is the same in both formats.
      if (!('type' in message)) return frameOf(message);
      let frame = uiFrames.get(message);
      if (!frame) uiFrames.set(message, (frame = Buffer.from(formatSseMessage({ id: message.id }))));
      return frame;
    }
    let frame = uiFrames.get(message);
    if (!frame) uiFrames.set(message, (frame = Buffer.from(uiMessageStreamText(message, stream.options.eventTypes))));
    return frame;
  },
};

/** The UI message stream text of one event (see {@link UI_MESSAGE_STREAM_FORMAT}). */
export function uiMessageStreamText(event: StreamEvent, types: StreamEventTypes): string {
  const final = finalOf(event, types);
  if (final) {
    const id = `id: ${event.id}\n`;
    if (final.status === 'completed') return `${id}${DONE}`;
    const chunk =
      final.status === 'failed'
        ? { type: 'error', errorText: typeof final.message === 'string' ? final.message : 'The stream failed.' }
        : { type: 'abort', ...(typeof final.reason === 'string' ? { reason: final.reason } : {}) };
    return `${id}data: ${JSON.stringify(chunk)}\n\n${DONE}`;
  }
  return formatSseMessage({ id: event.id, data: event.data } as SseMessage);
}

interface FinalData {
  readonly status: 'completed' | 'failed' | 'cancelled';
  readonly message?: unknown;
  readonly reason?: unknown;
}

const FINAL_STATUS = { done: 'completed', error: 'failed', cancelled: 'cancelled' } as const;

/** The data of one of the library's final events (`done`, `error`, `cancelled`), else undefined. */
function finalOf(event: StreamEvent, types: StreamEventTypes): FinalData | undefined {
  const kind = (['done', 'error', 'cancelled'] as const).find((name) => types[name] === event.type);
  if (!kind || !event.data.startsWith('{"status":')) return undefined;
  try {
    const data = JSON.parse(event.data) as FinalData;
    return data.status === FINAL_STATUS[kind] ? data : undefined;
  } catch {
    return undefined;
  }
}
