import net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { mulberry32 } from './prng.js';

/*
 * Support for the fuzz suites (test/fuzz/): a WHATWG event stream interpreter that knows nothing
 * of the library, a seeded property runner that prints how to reproduce a failure, generators of
 * hostile strings, values and bytes, and a raw HTTP/1.1 client over `net` that can send what
 * `http.request` refuses and checks the framing of what comes back.
 */

// ---------------------------------------------------------------------------------------------
// The HTML Standard's "event stream interpretation" (9.2.6), to the letter.
// ---------------------------------------------------------------------------------------------

/** One field line, after the split at the first colon and the removal of one leading space. */
export interface SpecField {
  readonly name: string;
  readonly value: string;
}

/** The lines between two blank lines: every field line (known or not) and every comment. */
export interface SpecBlock {
  readonly fields: SpecField[];
  readonly comments: string[];
}

/** An event as EventSource would dispatch it. */
export interface SpecEvent {
  readonly type: string;
  readonly data: string;
  readonly lastEventId: string;
}

export interface SpecStream {
  /** Every block ended by a blank line, empty ones included, in order. */
  readonly blocks: SpecBlock[];
  /** Blocks with at least one field or comment. */
  readonly nonEmptyBlocks: SpecBlock[];
  /** What EventSource dispatches. */
  readonly events: SpecEvent[];
  /** Every `retry:` value the spec accepts (ASCII digits only), in order. */
  readonly retries: number[];
  /** `id:` values ignored because they contain NUL. */
  readonly ignoredIds: string[];
  /** The last event ID string at the end of the stream. */
  readonly lastEventId: string;
  /** Text after the last blank line: an event the spec discards at the end of the stream. */
  readonly unterminated: string;
}

/**
 * Interprets a whole event stream as the HTML Standard says: UTF-8 decode (a leading BOM is
 * dropped, invalid bytes become U+FFFD), lines end at CRLF, LF or CR, a blank line dispatches,
 * `:` starts a comment, the field name ends at the first colon, one leading space is removed
 * from the value, `data` lines are joined by LF, an `id` containing NUL is ignored, `retry` is
 * taken only when it is all ASCII digits. Unknown field names are kept in the blocks (the spec
 * ignores them) so that tests can see them.
 */
export function interpretEventStream(input: Uint8Array | string): SpecStream {
  const text = typeof input === 'string' ? input.replace(/^\uFEFF/, '') : new TextDecoder('utf-8').decode(input);
  const blocks: SpecBlock[] = [];
  const events: SpecEvent[] = [];
  const retries: number[] = [];
  const ignoredIds: string[] = [];
  let block: SpecBlock = { fields: [], comments: [] };
  let dataBuffer = '';
  let typeBuffer = '';
  let idBuffer = '';
  let lastEventId = '';
  let blockStart = 0;

  const dispatch = () => {
    lastEventId = idBuffer;
    if (dataBuffer === '') {
      typeBuffer = '';
      return;
    }
    const data = dataBuffer.endsWith('\n') ? dataBuffer.slice(0, -1) : dataBuffer;
    events.push({ type: typeBuffer === '' ? 'message' : typeBuffer, data, lastEventId });
    dataBuffer = '';
    typeBuffer = '';
  };

  const processLine = (line: string) => {
    if (line === '') {
      blocks.push(block);
      block = { fields: [], comments: [] };
      dispatch();
      return;
    }
    if (line.startsWith(':')) {
      block.comments.push(line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    block.fields.push({ name, value });
    if (name === 'event') typeBuffer = value;
    else if (name === 'data') dataBuffer += `${value}\n`;
    else if (name === 'id') {
      if (value.includes('\0')) ignoredIds.push(value);
      else idBuffer = value;
    } else if (name === 'retry' && /^[0-9]+$/.test(value)) retries.push(Number(value));
  };

  const lineBreak = /\r\n|\r|\n/g;
  let start = 0;
  let match: RegExpExecArray | null;
  while ((match = lineBreak.exec(text)) !== null) {
    const line = text.slice(start, match.index);
    start = match.index + match[0].length;
    processLine(line);
    if (line === '') blockStart = start;
  }
  return {
    blocks,
    nonEmptyBlocks: blocks.filter((b) => b.fields.length > 0 || b.comments.length > 0),
    events,
    retries,
    ignoredIds,
    lastEventId,
    unterminated: text.slice(blockStart),
  };
}

/** The field names of a block, in order (`data` once per data line). */
export function fieldNames(block: SpecBlock): string[] {
  return block.fields.map((field) => field.name);
}

// ---------------------------------------------------------------------------------------------
// Seeded properties.
// ---------------------------------------------------------------------------------------------

/** The base seed: `FUZZ_SEED=<n>` (or `random`), else a fixed one so that CI is deterministic. */
export function fuzzSeed(): number {
  const raw = process.env.FUZZ_SEED;
  if (raw === 'random') return Math.floor(Math.random() * 2 ** 32);
  if (raw && /^\d+$/.test(raw)) return Number(raw) >>> 0;
  return 0x5eed0007;
}

/** `runs` scaled by `FUZZ_SCALE` (e.g. 10 for a longer hunt). */
export function fuzzRuns(runs: number): number {
  const scale = Number(process.env.FUZZ_SCALE ?? 1);
  return Math.max(1, Math.round(runs * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

/** A Jest timeout for a property of `runs` cases that takes about `baseMs` at scale 1. */
export function fuzzTimeout(baseMs: number): number {
  return Math.max(30_000, fuzzRuns(baseMs) * 3);
}

function caseSeed(base: number, index: number): number {
  return (base ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

/** The cases to run: all `runs` of them, or only `FUZZ_CASE=<index>`. */
function caseIndexes(runs: number): number[] {
  const only = process.env.FUZZ_CASE;
  if (only && /^\d+$/.test(only)) return [Number(only)];
  return Array.from({ length: runs }, (_, index) => index);
}

/** Escapes a value for a failure message: every non-printable character is written as \uXXXX. */
export function show(value: unknown, max = 600): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (Buffer.isBuffer(value)) text = `<bytes ${value.toString('hex')}>`;
  else {
    try {
      text =
        JSON.stringify(value, (_key, v: unknown) =>
          typeof v === 'bigint'
            ? `${v}n`
            : typeof v === 'function' || typeof v === 'symbol' || Object.is(v, -0)
              ? `<${String(v === 0 ? '-0' : v)}>`
              : v,
        ) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  text = text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > max ? `${text.slice(0, max)}... (${text.length} characters)` : text;
}

/**
 * Deep strict equality that costs nothing when it holds (Jest's `expect()` builds an error per
 * call, too slow for thousands of cases); throws with both values escaped when it does not.
 */
export function same(actual: unknown, expected: unknown, what: string): void {
  if (isDeepStrictEqual(actual, expected)) return;
  throw new Error(`${what}:\n  expected ${show(expected, 2_000)}\n  received ${show(actual, 2_000)}`);
}

/** Throws `message` unless `condition` holds. */
export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new Error(typeof message === 'string' ? message : message());
}

/**
 * Checks that a property's generator reached every kind of case it is meant to (a run that only
 * ever produced refusals would prove nothing). Skipped when FUZZ_CASE runs a single case.
 */
export function checkCoverage(condition: boolean, message: () => string): void {
  if (process.env.FUZZ_CASE) return;
  if (!condition) throw new Error(`The generator did not cover its cases: ${message()}`);
}

function failure(property: string, base: number, index: number, gen: Gen, error: unknown): Error {
  const notes = gen.notes.map(([label, value]) => `  ${label}: ${show(value)}`).join('\n');
  const cause = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const wrapped = new Error(
    `Property "${property}" failed at case ${index}. Reproduce: FUZZ_SEED=${base} FUZZ_CASE=${index}\n` +
      `Input:\n${notes || '  (none noted)'}\n${cause}`,
  );
  return wrapped;
}

/**
 * Runs `check` on `runs` seeded cases; each gets its own generator. The first failure is thrown
 * with the seed and case index that reproduce it, and what the case noted as its input.
 */
export function forAll(property: string, runs: number, check: (gen: Gen, index: number) => void): void {
  const base = fuzzSeed();
  for (const index of caseIndexes(fuzzRuns(runs))) {
    const gen = new Gen(mulberry32(caseSeed(base, index)));
    try {
      check(gen, index);
    } catch (error) {
      throw failure(property, base, index, gen, error);
    }
  }
}

/** {@link forAll} for async checks, `concurrency` cases at a time. */
export async function forAllAsync(
  property: string,
  runs: number,
  check: (gen: Gen, index: number) => Promise<void>,
  concurrency = 1,
): Promise<void> {
  const base = fuzzSeed();
  const indexes = caseIndexes(fuzzRuns(runs));
  let next = 0;
  const failures: { index: number; error: Error }[] = [];
  const worker = async () => {
    while (next < indexes.length && failures.length === 0) {
      const index = indexes[next++];
      const gen = new Gen(mulberry32(caseSeed(base, index)));
      try {
        await check(gen, index);
      } catch (error) {
        failures.push({ index, error: failure(property, base, index, gen, error) });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  // The lowest failing case, so that the report does not depend on timing.
  if (failures.length > 0) throw failures.sort((a, b) => a.index - b.index)[0].error;
}

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

/** Pieces of hostile text. Line breaks and SSE syntax are there to try to forge fields. */
const LINE_BREAKS = ['\r', '\n', '\r\n', '\n\r', '\r\r\n', '\n\n', '\r\n\r\n'];
const SSE_SYNTAX = [
  ':',
  ' ',
  '  ',
  'data:',
  'data: ',
  'data:forged',
  'id:',
  'id: forged-1',
  'event:',
  'event: forged',
  'retry:',
  'retry: 1',
  ': comment',
  '\ndata: forged\n\n',
  '\r\nid: forged\r\n',
  '\revent: forged\r',
  '\n\nevent: forged\ndata: x\n\n',
  '\r\n\r\nretry: 0\r\n\r\n',
];
const CONTROLS = ['\0', '\x01', '\x07', '\b', '\t', '\v', '\f', '\x1b', '\x1f', '\x7f', '\x80', '\x85', '\x9f'];
const UNICODE = [
  '\u2028',
  '\u2029',
  '\uFEFF',
  '\uFFFD',
  '\uFFFE',
  '\uFFFF',
  '\u200B',
  '\u202E',
  '\u0301',
  'é',
  'ß',
  '中',
  '😀',
  '👩‍👩‍👧',
  '\u{10FFFF}',
  '١',
  '１',
];
const LONE_SURROGATES = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uDC00\uD800', '\uD83D', '\uDE00'];

export interface StringOptions {
  /** Most pieces (default 40). */
  readonly maxPieces?: number;
  /** Leave out lone surrogates (the result is well-formed UTF-16). */
  readonly wellFormed?: boolean;
  /** Leave out CR, LF and NUL. */
  readonly singleLine?: boolean;
}

/** A seeded source of random choices and hostile values. Notes what the case used, for failures. */
export class Gen {
  readonly notes: [string, unknown][] = [];

  constructor(readonly random: () => number) {}

  /** Records a value that the failure message should show. Returns it. */
  note<T>(label: string, value: T): T {
    this.notes.push([label, value]);
    return value;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  bool(probability = 0.5): boolean {
    return this.random() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  /** One of `choices`, by weight. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let roll = this.random() * total;
    for (const [weight, value] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return choices[choices.length - 1][1];
  }

  /** A random code point, surrogates excluded. */
  codePoint(): string {
    const plane = this.weighted([
      [6, 0x7f],
      [3, 0xffff],
      [1, 0x10ffff],
    ] as const);
    for (;;) {
      const cp = this.int(0, plane);
      if (cp < 0xd800 || cp > 0xdfff) return String.fromCodePoint(cp);
    }
  }

  /** A hostile string: printable ASCII, line breaks, SSE syntax, controls, odd unicode. */
  string(options: StringOptions = {}): string {
    const pieces = this.weighted([
      [2, 0],
      [10, this.int(1, 8)],
      [6, this.int(1, options.maxPieces ?? 40)],
      [1, this.int(1, (options.maxPieces ?? 40) * 10)],
    ] as const);
    let text = '';
    for (let i = 0; i < pieces; i++) text += this.piece(options);
    return text;
  }

  private piece(options: StringOptions): string {
    const kind = this.weighted([
      [10, 'ascii'],
      [options.singleLine ? 0 : 4, 'break'],
      [3, 'syntax'],
      [2, 'control'],
      [3, 'unicode'],
      [2, 'codepoint'],
      [options.wellFormed ? 0 : 1, 'surrogate'],
    ] as const);
    let piece: string;
    switch (kind) {
      case 'ascii':
        piece = String.fromCharCode(this.int(0x20, 0x7e));
        break;
      case 'break':
        piece = this.pick(LINE_BREAKS);
        break;
      case 'syntax':
        piece = this.pick(SSE_SYNTAX);
        break;
      case 'control':
        piece = this.pick(CONTROLS);
        break;
      case 'unicode':
        piece = this.pick(UNICODE);
        break;
      case 'codepoint':
        piece = this.codePoint();
        break;
      case 'surrogate':
        piece = this.pick(LONE_SURROGATES);
        break;
    }
    return options.singleLine ? piece.replace(/[\r\n\0]/g, '') : piece;
  }

  /** A large string (64 KiB to `maxBytes` UTF-16 units) made of a repeated hostile pattern. */
  hugeString(maxUnits = 1 << 20, options: StringOptions = {}): string {
    const pattern = this.string({ ...options, maxPieces: 20 }) || 'x';
    const units = this.int(64 * 1024, maxUnits);
    return pattern.repeat(Math.ceil(units / pattern.length)).slice(0, units);
  }

  /** A JSON-able value: nested arrays and objects of hostile keys and strings, numbers, booleans, null. */
  json(depth = 3): unknown {
    const kind = this.weighted([
      [3, 'string'],
      [2, 'number'],
      [1, 'literal'],
      [depth > 0 ? 2 : 0, 'array'],
      [depth > 0 ? 3 : 0, 'object'],
    ] as const);
    switch (kind) {
      case 'string':
        return this.string();
      case 'number':
        return this.pick([
          0,
          -0,
          1,
          -1,
          this.int(-1e9, 1e9),
          this.random() * 1e6,
          Number.MAX_SAFE_INTEGER,
          Number.MIN_VALUE,
          1e308,
          -1e-308,
          NaN,
          Infinity,
        ]);
      case 'literal':
        return this.pick([null, true, false]);
      case 'array':
        return Array.from({ length: this.int(0, 5) }, () => this.json(depth - 1));
      case 'object': {
        const object: Record<string, unknown> = {};
        for (let i = this.int(0, 5); i > 0; i--) object[this.string({ maxPieces: 6 })] = this.json(depth - 1);
        return object;
      }
    }
  }

  /** Random bytes, any value. */
  bytes(maxLength = 64): Buffer {
    return Buffer.from(Array.from({ length: this.int(0, maxLength) }, () => this.int(0, 255)));
  }
}

/**
 * UTF-8 as a careless encoder writes it: lone surrogates become the 3-byte sequences of their
 * code units (WTF-8, invalid UTF-8) instead of U+FFFD.
 */
export function wtf8(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const cp = text.codePointAt(i)!;
    if (cp > 0xffff) {
      bytes.push(...Buffer.from(String.fromCodePoint(cp)));
      i++;
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      bytes.push(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f));
    } else {
      bytes.push(...Buffer.from(text[i]));
    }
  }
  return Buffer.from(bytes);
}

const SEQUENCE_DIGITS = '0123456789';
const EPOCH_CHARS = '0123456789abcdefghijklmnopqrstuvwxyz';

// ---------------------------------------------------------------------------------------------
// Last-Event-ID values.
// ---------------------------------------------------------------------------------------------

/** Longest Last-Event-ID the library accepts (README / MAX_EVENT_ID_LENGTH). */
export const MAX_EVENT_ID_LENGTH = 64;

/**
 * What a Last-Event-ID must be to be accepted, written independently of the library's regex:
 * `<epoch>-<sequence>`, epoch 1 to 32 of [0-9a-z], sequence a decimal without leading zeros up to
 * 2^53 - 1, 64 characters at most.
 */
export function eventIdOracle(value: string): { epoch: string; sequence: number } | undefined {
  if (value.length > MAX_EVENT_ID_LENGTH) return undefined;
  const dash = value.indexOf('-');
  if (dash < 1 || dash > 32) return undefined;
  const epoch = value.slice(0, dash);
  const digits = value.slice(dash + 1);
  if (![...epoch].every((c) => EPOCH_CHARS.includes(c))) return undefined;
  if (digits === '' || ![...digits].every((c) => SEQUENCE_DIGITS.includes(c))) return undefined;
  if (digits.length > 1 && digits.startsWith('0')) return undefined;
  const sequence = Number(digits);
  return Number.isSafeInteger(sequence) ? { epoch, sequence } : undefined;
}

export function randomEpoch(gen: Gen, max = 32): string {
  return Array.from({ length: gen.int(1, max) }, () => gen.pick([...EPOCH_CHARS])).join('');
}

export function randomSequence(gen: Gen): number {
  return gen.weighted([
    [3, gen.int(0, 20)],
    [2, gen.int(0, 1e6)],
    [1, Math.floor(gen.random() * Number.MAX_SAFE_INTEGER)],
    [1, Number.MAX_SAFE_INTEGER - gen.int(0, 3)],
  ] as const);
}

/** A near miss of a valid id: one edit that may or may not keep it valid. */
export function nearMissId(gen: Gen, id: string): string {
  const at = gen.int(0, id.length);
  const edits: (() => string)[] = [
    () => id.toUpperCase(),
    () => id.slice(0, at) + gen.string({ maxPieces: 2 }) + id.slice(at),
    () => id.slice(0, at) + id.slice(at + 1),
    () => id.replace('-', gen.pick(['--', '-0', '-+', '- ', '_', '\u2010', '\u2212', '\uFF0D', '-\0'])),
    () => `${id}${gen.pick(['0', '9', '.0', 'e3', ' ', '\t', '\r', '\n', '\r\n', '\0', '\u2028', '\uFEFF', '\uD800'])}`,
    () => `${gen.pick([' ', '\t', '\uFEFF', '\0', '+', '0', '\u00A0'])}${id}`,
    () => id.replace(/\d/, gen.pick(['\u0661', '\uFF11', '\u{1D7CF}', 'Ⅰ', '¹'])),
    () => `${randomEpoch(gen, 4)}-${'9'.repeat(gen.int(15, 40))}`,
    () => `${randomEpoch(gen, 40)}-${randomSequence(gen)}`,
    () => `${id}, ${id}`,
    () => id.repeat(gen.int(2, 4)),
    () => encodeURIComponent(id).replace(/-/g, '%2D'),
  ];
  return gen.pick(edits)();
}

/** Anything a client might send as Last-Event-ID. */
export function randomLastEventId(gen: Gen, validIds: readonly string[] = []): string {
  const valid = () => `${randomEpoch(gen)}-${randomSequence(gen)}`;
  return gen.weighted<() => string>([
    [4, () => gen.string()],
    [3, () => nearMissId(gen, validIds.length > 0 && gen.bool() ? gen.pick(validIds) : valid())],
    [2, valid],
    [validIds.length > 0 ? 3 : 0, () => gen.pick(validIds)],
    [1, () => String.fromCharCode(...Array.from({ length: gen.int(0, 80) }, () => gen.int(0, 0xffff)))],
    [1, () => gen.bytes(80).toString('latin1')],
    [0.05, () => gen.hugeString()],
    [0.3, () => 'a'.repeat(gen.int(MAX_EVENT_ID_LENGTH - 2, MAX_EVENT_ID_LENGTH + 2))],
    [0.3, () => `${'z'.repeat(gen.int(30, 34))}-${'1'.repeat(gen.int(14, 18))}`],
  ])();
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 over net.
// ---------------------------------------------------------------------------------------------

export interface RawHttpResponse {
  readonly statusCode: number;
  readonly statusLine: string;
  /** Lower-cased names; every value of a repeated header. */
  readonly headers: Record<string, string[]>;
  /** The body with the transfer coding removed. */
  readonly body: Buffer;
  /**
   * The response's framing: `chunked`, `length`, `close` (read until the server closed), `none`,
   * or `partial` (still open: the caller's `stopWhen` was satisfied by the complete chunks so far).
   */
  readonly framing: 'chunked' | 'length' | 'close' | 'none' | 'partial';
}

export interface RawExchange {
  readonly response?: RawHttpResponse;
  /** Why the bytes received are not one well-formed HTTP/1.1 response. */
  readonly malformed?: string;
  readonly timedOut: boolean;
  /** Everything received. */
  readonly raw: Buffer;
  readonly elapsedMs: number;
}

/** A GET request, byte for byte: `target` and header values are sent as given. */
export function rawGet(target: string | Buffer, headers: readonly (readonly [string, string | Buffer])[] = []): Buffer {
  const parts: Buffer[] = [Buffer.from('GET '), Buffer.from(target as string), Buffer.from(' HTTP/1.1\r\n')];
  parts.push(Buffer.from('Host: 127.0.0.1\r\nAccept: text/event-stream\r\n'));
  for (const [name, value] of headers) {
    parts.push(Buffer.from(`${name}: `), typeof value === 'string' ? Buffer.from(value, 'latin1') : value);
    parts.push(Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('Connection: close\r\n\r\n'));
  return Buffer.concat(parts);
}

type Parsed =
  | { state: 'more'; partial?: RawHttpResponse }
  | { state: 'done'; response: RawHttpResponse }
  | { state: 'bad'; reason: string };

/** Parses one HTTP/1.1 response from `raw`; `closed` tells whether the server has closed. */
export function parseHttpResponse(raw: Buffer, closed: boolean): Parsed {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return closed ? { state: 'bad', reason: 'connection closed before the end of the head' } : more;
  const lines = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = lines[0];
  const status = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?$/.exec(statusLine);
  if (!status) return { state: 'bad', reason: `bad status line ${show(statusLine)}` };
  const headers: Record<string, string[]> = {};
  for (const line of lines.slice(1)) {
    const header = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!header || [...header[2]].some((c) => (c < ' ' && c !== '\t') || c === '\x7f'))
      return { state: 'bad', reason: `bad header line ${show(line)}` };
    (headers[header[1].toLowerCase()] ??= []).push(header[2]);
  }
  const statusCode = Number(status[1]);
  const rest = raw.subarray(headEnd + 4);
  const done = (body: Buffer, framing: RawHttpResponse['framing']): Parsed => ({
    state: 'done',
    response: { statusCode, statusLine, headers, body, framing },
  });
  const transferEncoding = headers['transfer-encoding']?.join(',').toLowerCase();
  const contentLength = headers['content-length'];
  if (statusCode === 204 || statusCode === 304) {
    if (transferEncoding || (contentLength && contentLength.some((v) => v !== '0'))) {
      return { state: 'bad', reason: `${statusCode} with a body framing` };
    }
    return done(Buffer.alloc(0), 'none');
  }
  if (transferEncoding !== undefined) {
    if (transferEncoding !== 'chunked') return { state: 'bad', reason: `transfer-encoding ${transferEncoding}` };
    if (contentLength) return { state: 'bad', reason: 'both transfer-encoding and content-length' };
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const partial = (): Parsed => ({
        state: 'more',
        partial: { statusCode, statusLine, headers, body: Buffer.concat(chunks), framing: 'partial' },
      });
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return closed ? { state: 'bad', reason: 'closed inside a chunk size line' } : partial();
      const sizeLine = rest.subarray(at, lineEnd).toString('latin1');
      const size = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(sizeLine);
      if (!size) return { state: 'bad', reason: `bad chunk size line ${show(sizeLine)}` };
      const length = parseInt(size[1], 16);
      if (length === 0) {
        // Trailers (none expected) then the blank line.
        const end = rest.indexOf('\r\n', lineEnd + 2);
        if (end < 0) return closed ? { state: 'bad', reason: 'closed before the end of the last chunk' } : partial();
        if (end !== lineEnd + 2) return { state: 'bad', reason: 'unexpected trailers' };
        if (end + 2 !== rest.length) return { state: 'bad', reason: 'bytes after the last chunk' };
        return done(Buffer.concat(chunks), 'chunked');
      }
      const dataEnd = lineEnd + 2 + length;
      if (rest.length < dataEnd + 2) return closed ? { state: 'bad', reason: 'closed inside a chunk' } : partial();
      if (rest[dataEnd] !== 0x0d || rest[dataEnd + 1] !== 0x0a)
        return { state: 'bad', reason: 'chunk not followed by CRLF' };
      chunks.push(rest.subarray(lineEnd + 2, dataEnd));
      at = dataEnd + 2;
    }
  }
  if (contentLength) {
    if (new Set(contentLength).size !== 1 || !/^[0-9]+$/.test(contentLength[0])) {
      return { state: 'bad', reason: `bad content-length ${show(contentLength)}` };
    }
    const length = Number(contentLength[0]);
    if (rest.length < length) return closed ? { state: 'bad', reason: 'closed before content-length bytes' } : more;
    if (rest.length > length) return { state: 'bad', reason: 'bytes after content-length' };
    return done(rest, 'length');
  }
  return closed ? done(rest, 'close') : more;
}

const more: Parsed = { state: 'more' };

/**
 * Sends `request` on a fresh connection and reads one response, until its framing says it is
 * complete (then the connection is dropped), the server closes, or `stopWhen` accepts the
 * complete chunks of a chunked body so far (for a stream that stays open). Never rejects: a
 * timeout or malformed bytes are reported in the result.
 */
export function rawExchange(
  port: number,
  request: Buffer,
  options: { timeoutMs?: number; stopWhen?: (partial: RawHttpResponse) => boolean } = {},
): Promise<RawExchange> {
  const { timeoutMs = 5_000, stopWhen } = options;
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (result: Omit<RawExchange, 'raw' | 'elapsedMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...result, raw: Buffer.concat(chunks), elapsedMs: Date.now() - started });
    };
    const check = (closed: boolean) => {
      const parsed = parseHttpResponse(Buffer.concat(chunks), closed);
      if (parsed.state === 'done') settle({ response: parsed.response, timedOut: false });
      else if (parsed.state === 'bad') settle({ malformed: parsed.reason, timedOut: false });
      else if (parsed.partial && stopWhen?.(parsed.partial)) settle({ response: parsed.partial, timedOut: false });
    };
    const timer = setTimeout(() => settle({ timedOut: true, malformed: 'timed out' }), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      check(false);
    });
    socket.on('end', () => check(true));
    socket.on('close', () => check(true));
    // A reset after a complete answer is fine (the server may close while we still write).
    socket.on('error', () => check(true));
    // Written, not ended: a half-closed request would make Node abort the response it serves.
    socket.write(request);
  });
}
