import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { ChunkedDecoder, ResponseHeadReader } from './http-response.js';
import type { Position } from './protocol.js';
import { SseParser } from './sse-parser.js';
import { epochNow } from '../clock.js';

/** What a client reports to the group it belongs to. */
export interface ClientSink {
  bytes: number;
  closedEarly: number;
  socketErrors: number;
  /** A bench event (its data has an `n`); `at` is the index right after the digits of n. */
  onSequence(client: BenchClient, n: number, data: string, at: number, receivedAt: number): void;
  onOtherEvent(type: string): void;
}

const N_FIELD = '"n":';
/** A server that accepted but never answered is broken, not slow: count the client as failed. */
const HEAD_TIMEOUT_MS = 30_000;

/**
 * One SSE client on a raw socket: writes the request, reads the response head, decodes a chunked
 * body, parses SSE and passes each event's `n` to its group. Remembers the last event id and the
 * last sequence across reconnections, as EventSource does.
 */
export class BenchClient {
  lastEventId = '';
  /** Highest sequence received so far (0: none). */
  lastN = 0;
  /** Set by the group while it waits for a sequence. */
  reached = false;
  private socket: net.Socket | undefined;
  /** False once we closed the socket ourselves: its close is then no failure. */
  private wanted = false;
  private head: ResponseHeadReader | undefined;
  private chunked: ChunkedDecoder | undefined;
  private decoder: StringDecoder | undefined;
  private parser: SseParser | undefined;
  private onHead: ((status: number) => void) | undefined;
  private headTimer: NodeJS.Timeout | undefined;
  /** Receive time of the TCP read being parsed: one clock read per read, not per event. */
  private receivedAt = 0;

  constructor(
    private readonly sink: ClientSink,
    resumeFrom?: Position,
  ) {
    if (resumeFrom) {
      this.lastEventId = resumeFrom.lastEventId;
      this.lastN = resumeFrom.n;
    }
  }

  /** The id and sequence of the last event received. */
  position(): Position {
    return { lastEventId: this.parser?.lastEventId ?? this.lastEventId, n: this.lastN };
  }

  /**
   * Connects (from `localAddress`, e.g. 127.0.0.2, when given: each source address has its own
   * ephemeral ports); onHead gets the response status, or 0 if the connection ended before a head.
   */
  open(port: number, path: string, onHead: (status: number) => void, localAddress?: string): void {
    const resume = this.lastEventId ? `Last-Event-ID: ${this.lastEventId}\r\n` : '';
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n${resume}\r\n`;
    this.onHead = onHead;
    this.wanted = true;
    this.head = new ResponseHeadReader();
    this.chunked = undefined;
    this.decoder = new StringDecoder('utf8');
    this.parser = new SseParser(this.onEvent, this.lastEventId);
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, localAddress });
    this.socket = socket;
    socket.write(request);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => this.sink.socketErrors++);
    socket.on('close', () => this.closed());
    this.headTimer = setTimeout(() => this.drop(), HEAD_TIMEOUT_MS);
  }

  /** Closes the connection on purpose (a drop, or the end of a scenario). */
  drop(): void {
    this.wanted = false;
    if (this.parser) this.lastEventId = this.parser.lastEventId;
    this.socket?.destroy();
  }

  private receive(chunk: Buffer): void {
    this.receivedAt = epochNow();
    this.sink.bytes += chunk.length;
    let body = chunk;
    if (this.head) {
      const complete = this.head.feed(chunk);
      if (!complete) return;
      this.head = undefined;
      this.settle(complete.head.status);
      if (complete.head.status !== 200) {
        this.wanted = false;
        this.socket?.destroy();
        return;
      }
      if (complete.head.chunked) this.chunked = new ChunkedDecoder();
      body = complete.rest;
    }
    if (this.chunked) {
      this.chunked.feed(body, this.payload);
      if (this.chunked.ended) this.socket?.end();
    } else this.payload(body);
  }

  private readonly payload = (bytes: Buffer): void => {
    this.parser!.feed(this.decoder!.write(bytes));
  };

  private readonly onEvent = (type: string, data: string): void => {
    const at = data.indexOf(N_FIELD);
    if (at === -1) return this.sink.onOtherEvent(type);
    let n = 0;
    let i = at + N_FIELD.length;
    for (let c = data.charCodeAt(i); c >= 48 && c <= 57; c = data.charCodeAt(++i)) n = n * 10 + c - 48;
    this.sink.onSequence(this, n, data, i, this.receivedAt);
  };

  private settle(status: number): void {
    clearTimeout(this.headTimer);
    const onHead = this.onHead;
    this.onHead = undefined;
    onHead?.(status);
  }

  private closed(): void {
    if (this.parser) this.lastEventId = this.parser.lastEventId;
    this.socket = undefined;
    this.settle(0);
    if (this.wanted) this.sink.closedEarly++;
    this.wanted = false;
  }
}
