import type { StreamEvent } from './stream-event.js';

const LINE_FEED = 0x0a;
const LINE_BREAK = /[\r\n]/;
const EVENT_PREFIX = 'event: ';
const ID_PREFIX = 'id: ';
const RETRY_PREFIX = 'retry: ';
const DATA_PREFIX = 'data: ';
/** `data: ` at the start of every data line after the first, and the line break before it. */
const NEXT_DATA_LINE = `\n${DATA_PREFIX}`;

/** `String.prototype.isWellFormed` (Node 20), not in the ES2023 typings. */
type WellFormedCheck = string & { isWellFormed(): boolean };

/**
 * True when the event can be read back whole from its frame, so the buffer need not keep it: its
 * type and id on one line each, and data whose line breaks are all LF and whose text is valid
 * UTF-16 (a frame splits data at CR, LF and CRLF alike, and writes a lone surrogate as U+FFFD).
 */
export function readableFromFrame(event: StreamEvent, epoch: string): boolean {
  return (
    event.epoch === epoch &&
    !LINE_BREAK.test(event.type) &&
    !LINE_BREAK.test(event.id) &&
    !event.data.includes('\r') &&
    (event.data as WellFormedCheck).isWellFormed()
  );
}

/**
 * The event whose frame (`event:`, `id:`, maybe `retry:`, `data:` lines, blank line) is `frame`,
 * for an event {@link readableFromFrame} said yes to.
 */
export function eventFromFrame(frame: Buffer, sequence: number, epoch: string, bytes: number): StreamEvent {
  let at = EVENT_PREFIX.length;
  let end = frame.indexOf(LINE_FEED, at);
  const type = frame.toString('utf8', at, end);
  at = end + 1 + ID_PREFIX.length;
  end = frame.indexOf(LINE_FEED, at);
  const id = frame.toString('utf8', at, end);
  at = end + 1;
  let retry: number | undefined;
  if (frame[at] === 0x72 /* r */) {
    end = frame.indexOf(LINE_FEED, at);
    retry = Number(frame.toString('latin1', at + RETRY_PREFIX.length, end));
    at = end + 1;
  }
  // The data lines, less the last line break and the blank line.
  let data = frame.toString('utf8', at + DATA_PREFIX.length, frame.length - 2);
  if (data.includes('\n')) data = data.replaceAll(NEXT_DATA_LINE, '\n');
  return retry === undefined
    ? Object.freeze({ id, type, data, sequence, epoch, bytes })
    : Object.freeze({ id, type, data, retry, sequence, epoch, bytes });
}
