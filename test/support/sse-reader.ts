import http from 'node:http';
import { SseLineParser, type ParsedEvent } from './sse-parser.js';

export type { ParsedEvent } from './sse-parser.js';

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
  private readonly parser = new SseLineParser(
    (block, hasData) => {
      this.blocks.push(block);
      if (hasData) this.events.push(block);
    },
    (comment) => this.comments.push(comment),
  );
  private readonly waiters = new Set<() => void>();
  readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = new Promise<void>((resolve) => {
      this.request = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        this.response = res;
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.parser.feed(chunk);
          this.notify();
        });
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
