/** One parsed SSE message block, as the spec's parser sees it (comments are reported apart). */
export interface ParsedEvent {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

/**
 * The WHATWG event-stream parser the test clients share, independent of the library and of
 * EventSource: CR, LF and CRLF line ends (a chunk may split anywhere, even a CRLF), one leading
 * space removed, `data` lines joined by LF, an `id` containing NUL ignored, `retry` only digits.
 * `onBlock` gets every block that set an id, data or retry; `hasData` tells whether the spec
 * would dispatch it as an event.
 */
export class SseLineParser {
  /** Text after the last line break (maybe a CR waiting for its LF). */
  pending = '';
  /** Characters of the complete lines of the block in progress. */
  blockChars = 0;
  private block: ParsedEvent = { data: '' };
  private dataLines = 0;

  constructor(
    private readonly onBlock: (block: ParsedEvent, hasData: boolean) => void,
    private readonly onComment: (text: string) => void = () => undefined,
  ) {}

  feed(chunk: string): void {
    const text = this.pending + chunk;
    const lineBreak = /\r\n|\r|\n/g;
    // `pending` holds no line break (but maybe a trailing CR): scan only from its end.
    lineBreak.lastIndex = Math.max(0, this.pending.length - 1);
    let start = 0;
    let match: RegExpExecArray | null;
    while ((match = lineBreak.exec(text)) !== null) {
      // A lone CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (match[0] === '\r' && match.index === text.length - 1) break;
      this.line(text.slice(start, match.index));
      start = match.index + match[0].length;
    }
    this.pending = text.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.block.id !== undefined || this.dataLines > 0 || this.block.retry !== undefined) {
        this.onBlock(this.block, this.dataLines > 0);
      }
      this.block = { data: '' };
      this.dataLines = 0;
      this.blockChars = 0;
      return;
    }
    this.blockChars += line.length + 1;
    if (line.startsWith(':')) {
      this.onComment(line.slice(1).trimStart());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.block.data = this.dataLines === 0 ? value : `${this.block.data}\n${value}`;
      this.dataLines++;
    } else if (field === 'event') this.block.event = value;
    else if (field === 'id' && !value.includes('\0')) this.block.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.block.retry = Number(value);
  }
}
