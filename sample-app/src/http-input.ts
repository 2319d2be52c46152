import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  BadRequestException,
  HttpException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';

/*
 * What the sample app accepts from a client, and what it answers otherwise: the same on Express
 * and on Fastify. Neither framework parses a body or judges a URL on its own here (see
 * create-app.ts): both hand the raw request to these functions, and every refusal is an
 * HttpException, so that Nest answers it in one shape: { "statusCode", "message", "error" }.
 * The table of answers is docs/sample-app-http.md.
 */

/** The largest body `POST /streams` reads. Its longest valid body (a 2000-character prompt) is under 13 KiB. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/** Methods whose Content-Type Fastify checks before any handler runs (its "bodywith" methods). */
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'QUERY']);

/** Keys that would reach an object's prototype if the value were ever merged into one. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

// RFC 9110, section 8.3.1: media-type = type "/" subtype parameters.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"';
const PARAMETER = `${TOKEN}=(?:${TOKEN}|${QUOTED_STRING})`;
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})((?:[ \\t]*;[ \\t]*(?:${PARAMETER})?)*)$`);
const PARAMETERS = new RegExp(`(${TOKEN})=(${TOKEN}|${QUOTED_STRING})`, 'g');

interface MediaType {
  /** `type/subtype`, lower-cased. */
  readonly essence: string;
  /** Parameter names lower-cased, values unquoted. */
  readonly parameters: ReadonlyMap<string, string>;
}

/** A Content-Type header value as RFC 9110 writes it, or undefined when it is not one. */
export function parseMediaType(value: string): MediaType | undefined {
  const match = MEDIA_TYPE.exec(value.trim());
  if (!match) return undefined;
  const parameters = new Map<string, string>();
  for (const [, name, raw] of match[3].matchAll(PARAMETERS)) {
    const unquoted = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    parameters.set(name.toLowerCase(), unquoted);
  }
  return { essence: `${match[1]}/${match[2]}`.toLowerCase(), parameters };
}

const malformedUrl = () =>
  new BadRequestException('The URL path has malformed percent-encoding (a "%" not followed by UTF-8 in hex).');

/**
 * Whether the path of a request target (before `?` and `#`) has percent-encoding that does not
 * decode: a `%` without two hex digits, or bytes that are no UTF-8. Fastify's router refuses such a
 * path before any handler; Express routes it and fails only on a route parameter.
 */
export function hasMalformedPath(url: string): boolean {
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  if (!path.includes('%')) return false;
  try {
    decodeURIComponent(path);
    return false;
  } catch {
    return true;
  }
}

/** The answer to a path with malformed percent-encoding, as Nest sends an HttpException. */
export function malformedUrlAnswer(): { status: number; body: object } {
  const exception = malformedUrl();
  return { status: exception.getStatus(), body: exception.getResponse() as object };
}

/**
 * Checks the request line and head before routing and parsing, for every request: a path with
 * malformed percent-encoding is a 400; a request that may carry a body (POST, DELETE, ...) with a
 * Content-Type that is no media type at all is a 415.
 */
export function checkRequestHead(request: IncomingMessage): HttpException | undefined {
  if (hasMalformedPath(request.url ?? '/')) return malformedUrl();
  const contentType = request.headers['content-type'];
  if (contentType !== undefined && METHODS_WITH_BODY.has(request.method ?? '') && !parseMediaType(contentType)) {
    return new UnsupportedMediaTypeException(`Content-Type "${printable(contentType)}" is not a media type.`);
  }
  return undefined;
}

/**
 * The path of a request target with each percent-encoded unreserved character (`A-Z a-z 0-9 - . _ ~`)
 * decoded, the query left as it is: `/stream%73` is `/streams` (RFC 3986, section 6.2.2.2).
 * Fastify's router matches decoded paths; Express' is given this one (create-app.ts).
 */
export function decodeUnreserved(url: string): string {
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  if (!path.includes('%')) return url;
  const decoded = path.replace(/%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
  return end === -1 ? decoded : decoded + url.slice(end);
}

/** The same check as Connect-style middleware, which Express and Fastify (through Nest) both run. */
export function requestHeadMiddleware(request: IncomingMessage, _response: unknown, next: (error?: unknown) => void) {
  next(checkRequestHead(request));
}

/**
 * Reads a JSON body from the raw request: undefined when there is none (no bytes), else the value
 * it holds. Refuses, before reading a byte, a Content-Type other than `application/json` (415), a
 * charset other than UTF-8 (415), any Content-Encoding (415), a body without a Content-Type (415),
 * and a Content-Length over {@link MAX_JSON_BODY_BYTES} (413); then a body that grows past it
 * (413), bytes that are not UTF-8 (400), text that is not JSON (400), and a key `__proto__`,
 * `constructor` or `prototype` at any depth (400). A leading byte order mark is ignored.
 */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const headers = request.headers;
  const contentType = headers['content-type'];
  const declaredLength = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const framedBody = headers['transfer-encoding'] !== undefined || (declaredLength ?? 0) > 0;
  if (contentType !== undefined) {
    const media = parseMediaType(contentType);
    if (media?.essence !== 'application/json') {
      throw new UnsupportedMediaTypeException(
        `Content-Type must be application/json, not "${printable(contentType)}".`,
      );
    }
    const charset = media.parameters.get('charset');
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      throw new UnsupportedMediaTypeException(`The body must be UTF-8, not charset "${printable(charset)}".`);
    }
  } else if (framedBody) {
    throw new UnsupportedMediaTypeException('A body needs Content-Type: application/json.');
  }
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new UnsupportedMediaTypeException(`Content-Encoding "${printable(encoding)}" is not supported.`);
  }
  if (declaredLength !== undefined && declaredLength > MAX_JSON_BODY_BYTES) throw tooLarge();
  const bytes = await readBody(request, MAX_JSON_BODY_BYTES);
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new BadRequestException('The body is not valid UTF-8.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestException('The body is not valid JSON.');
  }
  if (hasPrototypeKey(value)) {
    throw new BadRequestException('The body must not contain the keys "__proto__", "constructor" or "prototype".');
  }
  return value;
}

/** Whether a parsed JSON value has a prototype key at any depth (iteratively: depth is up to the client). */
function hasPrototypeKey(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null) continue;
    if (Array.isArray(next)) {
      for (const item of next) pending.push(item);
      continue;
    }
    for (const key of Object.keys(next)) {
      if (PROTOTYPE_KEYS.has(key)) return true;
      pending.push((next as Record<string, unknown>)[key]);
    }
  }
  return false;
}

const tooLarge = () =>
  new PayloadTooLargeException(`The body is larger than ${MAX_JSON_BODY_BYTES} bytes, the most POST /streams reads.`);

/**
 * Reads the whole body, or refuses it once it passes `limit`. The rest of a refused body is then
 * read and dropped by Node (flowing, with no listener), so that the connection stays usable.
 */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  if (request.readableEnded) {
    // Something read the body before: the sample app is miswired (a framework body parser is on).
    return Promise.reject(new Error('The request body was already read; no framework body parser may run.'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = (error: Error | undefined) => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
      if (!error) return resolve(Buffer.concat(chunks, length));
      request.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    const onError = (error: Error) => finish(new BadRequestException(`The body could not be read: ${error.message}`));
    const onAborted = () => finish(new BadRequestException('The body ended early.'));
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('aborted', onAborted);
  });
}

/** A header value as it may appear in a message: printable ASCII, at most 80 characters. */
function printable(value: string): string {
  const cut = value.slice(0, 81).replace(/[^\x20-\x7e]/g, '?');
  return value.length > 80 ? `${cut.slice(0, 80)}...` : cut;
}

/**
 * Answers a request Node's HTTP parser refused (the server's `clientError`), before any framework
 * sees it: the status Node itself would send (431 for a head over `maxHeaderSize`, 408 for a request
 * that timed out, 413 for oversized chunk extensions, else 400) with a JSON body in the shape of
 * every other error. Nothing is written once a response on the socket has begun.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const statusCode =
    { HPE_HEADER_OVERFLOW: 431, ERR_HTTP_REQUEST_TIMEOUT: 408, HPE_CHUNK_EXTENSIONS_OVERFLOW: 413 }[error.code ?? ''] ??
    400;
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const label = STATUS_CODES[statusCode]!;
    const body = JSON.stringify({ message: `The request could not be read (${label}).`, error: label, statusCode });
    socket.write(
      `HTTP/1.1 ${statusCode} ${label}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** The Node.js request under a framework's request: Express' is one, Fastify's has it as `raw`. */
export function nodeRequest(request: IncomingMessage | { raw: IncomingMessage }): IncomingMessage {
  return 'raw' in request ? request.raw : request;
}
