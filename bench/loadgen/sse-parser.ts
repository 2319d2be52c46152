/** Called once per dispatched event (a block with data), with the last event id at that point. */
export type SseEventHandler = (type: string, data: string, lastEventId: string) => void;

const LF = 10;
const COLON = 58;
const SPACE = 32;

/**
 * An incremental parser of the text/event-stream format, as the HTML spec defines it: text may
 * be split anywhere; lines end with LF, CRLF or CR (a CRLF split across two chunks counts once);
 * comments are skipped; `data:` lines join with LF; `id:` sets the last event id even for blocks
 * without data (id-only position markers, sent with `retryMs`); a block is dispatched at the blank line ending it.
 * Holds only the unfinished line and the block being built, so one process can run thousands.
 */
export class SseParser {
  /** Id of the last block dispatched, as EventSource's lastEventId. */
  lastEventId: string;
  private pending = '';
  /** The previous chunk ended with CR: a LF starting the next one belongs to that line end. */
  private afterCr = false;
  private data = '';
  private hasData = false;
  private type = '';
  private idBuffer: string;

  constructor(
    private readonly onEvent: SseEventHandler,
    lastEventId = '',
  ) {
    this.lastEventId = lastEventId;
    this.idBuffer = lastEventId;
  }

  feed(chunk: string): void {
    if (chunk.length === 0) return;
    const text = this.pending.length > 0 ? this.pending + chunk : chunk;
    let start = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    // CR is rare on the wire: look it up once per chunk, not once per line.
    let cr = text.indexOf('\r', start);
    for (;;) {
      const lf = text.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = text.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 < text.length) next = text.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
        else {
          next = cr + 1;
          this.afterCr = true;
        }
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      this.line(text, start, end);
      start = next;
    }
    this.pending = start < text.length ? text.slice(start) : '';
  }

  private line(text: string, start: number, end: number): void {
    if (start === end) return this.dispatch();
    if (text.charCodeAt(start) === COLON) return; // comment, e.g. a heartbeat
    const colon = text.indexOf(':', start);
    let field: string;
    let value: string;
    if (colon === -1 || colon >= end) {
      field = text.slice(start, end);
      value = '';
    } else {
      field = text.slice(start, colon);
      const valueStart = text.charCodeAt(colon + 1) === SPACE && colon + 1 < end ? colon + 2 : colon + 1;
      value = text.slice(valueStart, end);
    }
    switch (field) {
      case 'data':
        this.data = this.hasData ? `${this.data}\n${value}` : value;
        this.hasData = true;
        break;
      case 'event':
        this.type = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.idBuffer = value;
        break;
      // retry and unknown fields change nothing a benchmark client needs.
    }
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer;
    if (this.hasData) this.onEvent(this.type || 'message', this.data, this.lastEventId);
    this.data = '';
    this.hasData = false;
    this.type = '';
  }
}
