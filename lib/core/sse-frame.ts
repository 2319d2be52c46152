import type { HeartbeatMessage, SseMessage } from './stream-event.js';
import { HEARTBEAT } from './heartbeat.js';

/**
 * Frames of messages, made once per message and shared by every client that writes frames
 * directly: fan-out then costs no per-client string work. A buffered event's frame is a view into
 * its stream's segments (see `ReplayBuffer`), given here with {@link adoptFrame}. Weak, so an
 * entry lives exactly as long as its message object.
 */
const frames = new WeakMap<object, Buffer>();

/** Lines of a multi-line value, split where an SSE parser would split them. */
const LINE_BREAK = /\r\n|\r|\n/;

function lines(prefix: string, value: string): string {
  if (!LINE_BREAK.test(value)) return `${prefix}${value}\n`;
  let text = '';
  for (const line of value.split(LINE_BREAK)) text += `${prefix}${line}\n`;
  return text;
}

/**
 * The SSE text of a message, byte for byte what NestJS's `@Sse()` writes for it (`event:`,
 * `id:`, `retry:`, comment, `data:` lines, blank line), so both delivery paths look the same on
 * the wire. Types and ids are single-line by construction (the engine rejects CR/LF/NUL in them).
 */
export function formatSseMessage(message: SseMessage): string {
  const { type, id, retry, comment, data } = message as {
    type?: string;
    id?: string;
    retry?: number;
    comment?: string;
    data?: string;
  };
  let text = type === undefined ? '' : `event: ${type}\n`;
  if (id !== undefined) text += `id: ${id}\n`;
  if (retry !== undefined) text += `retry: ${retry}\n`;
  if (comment !== undefined) text += lines(': ', comment);
  if (data !== undefined) text += lines('data: ', data);
  return `${text}\n`;
}

/** HTTP/1.1 chunks around frames (`<size>CRLF<frame>CRLF`), made once per frame. */
const chunks = new WeakMap<Buffer, Buffer>();
const CRLF = '\r\n';

/**
 * The frame of a message as bytes; cached for messages that are shared (events, heartbeats).
 * It is a view into one allocation that also holds its HTTP/1.1 chunk (see {@link chunkOf}):
 * an event written to many chunk-encoded responses is held once, not twice.
 */
export function frameOf(message: SseMessage): Buffer {
  let frame = frames.get(message);
  if (!frame) {
    const text = formatSseMessage(message);
    const length = Buffer.byteLength(text);
    const head = `${length.toString(16)}${CRLF}`;
    const chunk = Buffer.allocUnsafe(head.length + length + CRLF.length);
    chunk.write(head, 0, 'latin1');
    chunk.write(text, head.length);
    chunk.write(CRLF, head.length + length, 'latin1');
    frame = chunk.subarray(head.length, head.length + length);
    chunks.set(frame, chunk);
    frames.set(message, frame);
  }
  return frame;
}

/**
 * Makes `frame` (with `chunk`, the same bytes in HTTP/1.1 chunked encoding around it) the frame of
 * `message`: what {@link frameOf} and {@link chunkOf} return for it from then on.
 */
export function adoptFrame(message: SseMessage, frame: Buffer, chunk: Buffer): void {
  frames.set(message, frame);
  chunks.set(frame, chunk);
}

/** The frame in HTTP/1.1 chunked encoding; shared for frames made by {@link frameOf}. */
export function chunkOf(frame: Buffer): Buffer {
  let chunk = chunks.get(frame);
  if (!chunk) {
    chunk = Buffer.concat([Buffer.from(`${frame.length.toString(16)}${CRLF}`), frame, Buffer.from(CRLF)]);
    chunks.set(frame, chunk);
  }
  return chunk;
}

/** The heartbeat frame (`: heartbeat`), shared by every connection. */
export const HEARTBEAT_FRAME: Buffer = frameOf(HEARTBEAT as HeartbeatMessage);

/** Joined runs of frames made in this turn of the event loop, by their first frame. */
let joined = new Map<Buffer, { frames: readonly Buffer[]; bytes: Buffer }[]>();
let clearing = false;

/**
 * The frames as one buffer, shared by every caller that joins the very same frames in the same
 * turn of the event loop: clients that are level with each other get the burst of events a
 * producer sent in one turn as one buffer, joined once, and written with one call each.
 */
export function joinFrames(frames: readonly Buffer[]): Buffer {
  if (frames.length === 1) return frames[0];
  const candidates = joined.get(frames[0]);
  const found = candidates?.find(
    (candidate) =>
      candidate.frames.length === frames.length && candidate.frames.every((frame, index) => frame === frames[index]),
  );
  if (found) return found.bytes;
  const bytes = Buffer.concat(frames as Buffer[]);
  const entry = { frames, bytes };
  if (candidates) candidates.push(entry);
  else joined.set(frames[0], [entry]);
  if (!clearing) {
    clearing = true;
    // Only this turn's writes share them; the next turn starts afresh (and frees them).
    setImmediate(() => {
      joined = new Map();
      clearing = false;
    });
  }
  return bytes;
}
