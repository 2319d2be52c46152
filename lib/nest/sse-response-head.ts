/** What taking over a response needs (Express `Response`, Fastify `reply.raw`). */
export interface HeadResponse {
  readonly headersSent: boolean;
  getHeaders?(): Record<string, unknown>;
  writeHead(status: number, headers: Record<string, unknown>): unknown;
  flushHeaders?(): void;
  write(chunk: Buffer): boolean;
}

/** What Nest's `@Sse()` sends, so both delivery paths answer with the same head. */
export const SSE_RESPONSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream',
  Connection: 'keep-alive',
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  Pragma: 'no-cache',
  Expires: '0',
  'X-Accel-Buffering': 'no',
});

/** Sent right after the head, as Nest does. */
const CONNECTED = Buffer.from('\n');

const SSE_HEADER_NAMES = new Set(Object.keys(SSE_RESPONSE_HEADERS).map((name) => name.toLowerCase()));

/**
 * Sends the head of an event stream (status 200) with the headers set before (CORS, `@Header()`,
 * Fastify's `reply.header()`, passed as `extraHeaders`), the SSE ones winning, then a lone line
 * break so the client knows it is connected, as Nest does.
 */
export function writeSseHead(response: HeadResponse, extraHeaders: Record<string, unknown> = {}): void {
  if (response.headersSent) return;
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries({ ...response.getHeaders?.(), ...extraHeaders })) {
    if (!SSE_HEADER_NAMES.has(name.toLowerCase()) && value !== undefined) headers[name] = value;
  }
  response.writeHead(200, { ...headers, ...SSE_RESPONSE_HEADERS });
  response.flushHeaders?.();
  response.write(CONNECTED);
}
