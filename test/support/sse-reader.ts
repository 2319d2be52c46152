import http from 'node:http';

/** One parsed SSE message block, as the spec's parser sees it (comments kept separately). */
export interface ParsedEvent {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

/**
 * A raw SSE client over node:http: parses every field itself (independent of the library and of
 * EventSource), keeps id-only blocks and comments, and can stop reading or reset its socket.
 */
export class SseReader {
  readonly events: ParsedEvent[] = [];
  readonly comments: string[] = [];
  readonly blocks: ParsedEvent[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  ended = false;
  private request!: http.ClientRequest;
  private response?: http.IncomingMessage;
  private pending = '';
  private block: ParsedEvent = { data: '' };
  private dataLines = 0;
  private readonly waiters = new Set<() => void>();
  readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = new Promise<void>((resolve) => {
      this.request = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        this.response = res;
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.feed(chunk));
        res.on('close', () => {
          this.ended = true;
          this.notify();
          resolve();
        });
      });
      this.request.on('error', () => {
        this.ended = true;
        this.notify();
        resolve();
      });
    });
  }

  /** Resolves once `predicate` holds (checked after every chunk), or rejects after `timeoutMs`. */
  waitFor(predicate: (reader: SseReader) => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`SseReader: condition not met within ${timeoutMs} ms (${this.events.length} events)`));
      }, timeoutMs);
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** The last id the spec's parser would remember (id lines of blocks that carried data). */
  get lastEventId(): string | undefined {
    return [...this.events].reverse().find((event) => event.id !== undefined)?.id;
  }

  /** Stops reading from the socket: the server's writes back up. */
  pause(): void {
    this.response?.pause();
    this.response?.socket.pause();
  }

  /** Resets the TCP connection (the client vanished). */
  destroy(): void {
    this.request.destroy();
    this.response?.destroy();
  }

  private feed(chunk: string): void {
    // Linear in the input: find every line break once, keep only the unfinished tail.
    const text = this.pending + chunk;
    const lineBreak = /\r\n|\r|\n/g;
    let start = 0;
    let match: RegExpExecArray | null;
    while ((match = lineBreak.exec(text)) !== null) {
      // A lone CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (match[0] === '\r' && match.index === text.length - 1) break;
      this.line(text.slice(start, match.index));
      start = match.index + match[0].length;
    }
    this.pending = text.slice(start);
    this.notify();
  }

  private line(line: string): void {
    if (line === '') {
      if (this.block.id !== undefined || this.dataLines > 0 || this.block.retry !== undefined) {
        this.blocks.push(this.block);
        if (this.dataLines > 0) this.events.push(this.block);
      }
      this.block = { data: '' };
      this.dataLines = 0;
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trimStart());
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

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Reads a whole SSE response (until the server ends it). */
export async function readAll(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const reader = new SseReader(url, headers);
  await reader.done;
  return reader;
}
