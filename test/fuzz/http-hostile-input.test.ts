import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { StreamRegistry } from '../../lib/index.js';
import { readAll } from '../support/sse-reader.js';
import { createStream, eventually, getStats, startSampleApp, type RunningApp } from '../support/sample-app.js';
import {
  check,
  checkCoverage,
  eventIdOracle,
  fieldNames,
  forAllAsync,
  fuzzTimeout,
  Gen,
  interpretEventStream,
  nearMissId,
  randomEpoch,
  randomSequence,
  rawExchange,
  rawGet,
  same,
  show,
  wtf8,
  type RawExchange,
  type SpecEvent,
  type SpecStream,
} from '../support/fuzz-sse.js';

/*
 * Issue 7: hostile Last-Event-ID values and stream ids over real HTTP, against the sample app on
 * Express and on Fastify. Requests go over raw sockets, so they carry what `http.request` refuses:
 * control characters, non-UTF-8 bytes, 8 KiB and 20 KiB values, repeated headers, malformed
 * percent-encoding. Every answer must be one well-formed HTTP/1.1 response, in time, with the
 * status an independent oracle predicts from the bytes sent: 200 with an event stream that replays
 * exactly the right events, 204, 400 (the library's JSON message, or Node's own parser), 404, or
 * 431 from Node; never a 5xx. No header value is ever echoed into an event stream, and the server
 * keeps serving normal clients afterwards. A failure prints the request sent, byte for byte, and
 * the FUZZ_SEED and FUZZ_CASE that generate it again (stream ids and epochs are new on every run,
 * so a case that depends on them may then take another turn: the request printed is the witness).
 */

/** What event data reads back as on the wire: CR and CRLF arrive as LF, lone surrogates as U+FFFD. */
const wireData = (text: string) =>
  text
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/\r\n|\r/g, '\n');

/** Node's default limit on the request head (`--max-http-header-size`). */
const NODE_MAX_HEADER_BYTES = 16 * 1024;
/** What startSampleApp() sets (`retryMs`), sent in every first block. */
const RETRY_MS = 100;
const CONCURRENCY = 16;

interface Target {
  readonly id: string;
  readonly epoch: string;
  readonly last: number;
  readonly finished: boolean;
  /** The events a client with no Last-Event-ID receives, in order (finished target only). */
  readonly events: SpecEvent[];
  /** Field names of each of their blocks. */
  readonly eventFields: string[][];
  /** The whole body a client with no Last-Event-ID receives (its first block, if running). */
  readonly body: Buffer;
}

/** What the server must answer. */
type Outcome =
  | { kind: 'stream'; cursor: number; reset?: string }
  | { kind: 'fully-seen' }
  | { kind: 'invalid-id' }
  | { kind: 'node-400' }
  | { kind: 'node-431' }
  /** Both a refused byte and a head over the limit: Node stops at whichever it meets first. */
  | { kind: 'node-400-or-431' }
  | { kind: 'not-found' };

/** What the library must answer for the Last-Event-ID `value` it reads (header, else query). */
function libraryOutcome(value: string | undefined, target: Target): Outcome {
  if (!value) return { kind: 'stream', cursor: 0 };
  const position = eventIdOracle(value);
  if (!position) return { kind: 'invalid-id' };
  if (position.epoch !== target.epoch) return { kind: 'stream', cursor: 0, reset: value };
  if (position.sequence > target.last) return { kind: 'invalid-id' };
  if (position.sequence === target.last && target.finished) return { kind: 'fully-seen' };
  return { kind: 'stream', cursor: position.sequence };
}

/** Bytes Node's HTTP parser refuses in a header value (CTLs other than HTAB). */
const badHeaderByte = (byte: number) => (byte < 0x20 && byte !== 0x09) || byte === 0x7f;
/** Bytes Node's HTTP parser refuses in a request target. */
const badTargetByte = (byte: number) => byte <= 0x20 || byte >= 0x7f;
/** What Node hands the application for a header value: latin1, optional whitespace trimmed. */
const nodeHeaderValue = (bytes: Buffer) => bytes.toString('latin1').replace(/^[ \t]+|[ \t]+$/g, '');

/** A Last-Event-ID header value, as bytes, of every kind a hostile or broken client may send. */
function headerValueBytes(gen: Gen, target: Target): Buffer {
  const bytes = anyHeaderValueBytes(gen, target);
  // CRLF would end the header line (another header, or the head: a second, pipelined request);
  // a bare CR or LF is what tests Node's parser. So every CRLF loses its LF.
  return Buffer.from(bytes.toString('latin1').replace(/\r\n/g, '\r'), 'latin1');
}

function anyHeaderValueBytes(gen: Gen, target: Target): Buffer {
  const own = () => `${target.epoch}-${gen.int(0, target.last + 2)}`;
  return gen.weighted<() => Buffer>([
    [4, () => Buffer.from(own())],
    [1, () => Buffer.from(`${randomEpoch(gen)}-${randomSequence(gen)}`)],
    [3, () => Buffer.from(nearMissId(gen, own()), 'utf8')],
    [3, () => Buffer.from(gen.string(), 'utf8')],
    [1, () => wtf8(gen.string())],
    [2, () => gen.bytes(64)],
    // Only bytes Node lets through: printable ASCII, HTAB and obs-text (0x80-0xff).
    [2, () => Buffer.from(Array.from({ length: gen.int(1, 64) }, () => gen.pick([0x09, gen.int(0x20, 0xff)])))],
    [1, () => Buffer.from(`${gen.pick([' ', '\t', '  \t'])}${own()}${gen.pick(['', ' ', '\t '])}`)],
    [0.6, () => Buffer.alloc(gen.int(8 * 1024, 12 * 1024), gen.pick(['x', '0', `${target.epoch}-1`, '\x80']))],
    [0.3, () => Buffer.alloc(gen.int(20 * 1024, 48 * 1024), gen.pick(['x', '9']))],
  ])();
}

/** A query value: `raw` goes in the URL as it is; `decoded` is what the app reads (undefined: garbage). */
function queryValue(gen: Gen, target: Target): { raw: string; decoded: string | undefined; nodeRejects: boolean } {
  const intended = gen.weighted<() => string>([
    [4, () => `${target.epoch}-${gen.int(0, target.last + 2)}`],
    [2, () => nearMissId(gen, `${target.epoch}-${gen.int(0, target.last)}`)],
    [3, () => gen.string({ maxPieces: 12 })],
    [1, () => ''],
  ])();
  const hex = (byte: number) => {
    const digits = byte.toString(16).padStart(2, '0');
    return `%${gen.bool() ? digits.toUpperCase() : digits}`;
  };
  const percentAll = () => [...wtf8(intended)].map(hex).join('');
  let raw = gen.weighted<() => string>([
    [3, () => percentAll()],
    [
      3,
      () =>
        [...wtf8(intended)]
          .map((byte) =>
            /[A-Za-z0-9._~-]/.test(String.fromCharCode(byte)) && gen.bool(0.8) ? String.fromCharCode(byte) : hex(byte),
          )
          .join(''),
    ],
    [1, () => percentAll().replace(/%20/g, '+')],
  ])();
  let decoded: string | undefined = wtf8(intended).equals(Buffer.from(intended)) ? intended : undefined;
  let nodeRejects = false;
  const at = gen.int(0, raw.length);
  const fault = gen.weighted([
    [8, 'none'],
    [1, 'malformed'],
    [1, 'raw character'],
  ] as const);
  if (fault === 'malformed') {
    // Malformed percent-encoding, followed by a non-hex character so that it cannot complete an
    // escape with what follows: whatever a parser makes of it, it is no id.
    const malformed = gen.pick(['%', '%Z', '%5', '%E0%A4', '%C0%AF', '%FF', '%ED%A0%80', '%%']);
    raw = `${raw.slice(0, at)}${malformed}g${raw.slice(at)}`;
    decoded = undefined;
  } else if (fault === 'raw character') {
    const char = gen.pick([' ', '\t', '\0', '\x7f', '\x80', '\xff', '"', '<', '>', '{', '}', '|', '\\', '^', '`', "'"]);
    // Followed by a character: Node tolerates whitespace at the very end of the target.
    raw = `${raw.slice(0, at)}${char}g${raw.slice(at)}`;
    nodeRejects = badTargetByte(char.charCodeAt(0));
    decoded = undefined;
  }
  return { raw, decoded, nodeRejects };
}

interface Request {
  readonly bytes: Buffer;
  readonly outcome: Outcome;
  /** Header and query values sent, to check none is echoed into an event stream. */
  readonly sentValues: Buffer[];
}

/** A GET of the target's stream with random Last-Event-ID headers and query parameters. */
function lastEventIdRequest(gen: Gen, target: Target): Request {
  const headerCount = gen.weighted([
    [3, 0],
    [6, 1],
    [1, gen.int(2, 3)],
  ] as const);
  const names = ['Last-Event-ID', 'last-event-id', 'LAST-EVENT-ID', 'Last-Event-Id'];
  const headers = Array.from({ length: headerCount }, () => [gen.pick(names), headerValueBytes(gen, target)] as const);
  const query: string[] = [];
  let queryDecoded: string | undefined | null = null; // null: no lastEventId parameter
  let queryRejected = false;
  for (
    let i = gen.weighted([
      [5, 0],
      [4, 1],
      [1, gen.int(2, 4)],
    ] as const);
    i > 0;
    i--
  ) {
    const value = queryValue(gen, target);
    queryRejected ||= value.nodeRejects;
    if (gen.bool(0.8)) {
      query.push(`lastEventId=${value.raw}`);
      // The first one counts; garbage is no id (the sentinel cannot parse).
      if (queryDecoded === null) queryDecoded = value.decoded ?? '\0garbage';
    } else {
      query.push(`${gen.pick(['lasteventid', 'last_event_id', 'LastEventId', 'foo'])}=${value.raw}`);
    }
  }
  if (gen.bool(0.05)) query.push('lastEventId');
  const path = `/streams/${target.id}${query.length > 0 ? `?${query.join('&')}` : ''}`;
  const bytes = rawGet(Buffer.from(path, 'latin1'), headers);
  gen.note(
    'request',
    bytes.length > 2_000 ? `${bytes.subarray(0, 2_000).toString('latin1')}...` : bytes.toString('latin1'),
  );

  let outcome: Outcome;
  const badByte = headers.some(([, value]) => value.some(badHeaderByte)) || queryRejected;
  const tooLarge = bytes.length > NODE_MAX_HEADER_BYTES;
  if (badByte && tooLarge) outcome = { kind: 'node-400-or-431' };
  else if (badByte) outcome = { kind: 'node-400' };
  else if (tooLarge) outcome = { kind: 'node-431' };
  else {
    const header = headers.length > 0 ? headers.map(([, value]) => nodeHeaderValue(value)).join(', ') : undefined;
    outcome = libraryOutcome(header || (queryDecoded ?? undefined) || undefined, target);
  }
  const sentValues = [
    ...headers.map(([, value]) => value),
    ...query.map((part) => Buffer.from(part.split('=')[1] ?? '', 'latin1')),
  ];
  return { bytes, outcome: gen.note('expected', outcome), sentValues };
}

/** Checks one exchange against the outcome the oracle predicted. */
function verify(exchange: RawExchange, outcome: Outcome, target: Target, sentValues: Buffer[]): void {
  check(!exchange.timedOut, () => `no complete answer within the timeout; received ${show(exchange.raw)}`);
  check(exchange.response !== undefined, () => `malformed answer (${exchange.malformed}): ${show(exchange.raw)}`);
  const response = exchange.response;
  const { statusCode } = response;
  check(statusCode < 500, () => `server error ${statusCode}: ${show(response.body.toString('latin1'))}`);
  const contentType = response.headers['content-type']?.join() ?? '';
  const json = () => {
    check(/^application\/json/.test(contentType), () => `content-type ${show(contentType)}`);
    const body = JSON.parse(response.body.toString('utf8')) as { message?: unknown; statusCode?: unknown };
    check(typeof body.message === 'string', () => `no message in ${show(body)}`);
    check(/^[\x20-\x7e]*$/.test(body.message), () => `non-printable characters in ${show(body.message)}`);
    return body as { message: string; statusCode?: unknown };
  };
  switch (outcome.kind) {
    case 'node-400':
    case 'node-431':
    case 'node-400-or-431':
      check(
        outcome.kind === 'node-400-or-431'
          ? [400, 431].includes(statusCode)
          : statusCode === Number(outcome.kind.slice(5)),
        () => `status ${statusCode} for ${outcome.kind}`,
      );
      check(!contentType.startsWith('text/event-stream'), 'an event stream for a request Node refused');
      return;
    case 'invalid-id': {
      same(statusCode, 400, 'status');
      const body = json();
      check(/^Invalid Last-Event-ID "/.test(body.message), () => `message ${show(body.message)}`);
      check(body.message.length <= 300, () => `message of ${body.message.length} characters`);
      return;
    }
    case 'not-found': {
      same(statusCode, 404, 'status');
      json();
      return;
    }
    case 'fully-seen':
      same([statusCode, response.body.length], [204, 0], 'status and body length');
      return;
    case 'stream':
      break;
  }
  same(statusCode, 200, 'status');
  check(/^text\/event-stream/.test(contentType), () => `content-type ${show(contentType)}`);
  const wire = interpretEventStream(response.body);
  const marker = `${target.epoch}-${outcome.cursor}`;
  const blocks = wire.nonEmptyBlocks;
  check(blocks.length > 0, 'no first block');
  same(
    fieldNames(blocks[0]),
    outcome.reset ? ['event', 'id', 'retry', 'data'] : ['id', 'retry'],
    'fields of the first block',
  );
  const resetEvents = outcome.reset
    ? [
        {
          type: 'reset',
          data: JSON.stringify({ reason: 'unknown_epoch', lastEventId: outcome.reset, resumesAfter: marker }),
          lastEventId: marker,
        },
      ]
    : [];
  if (response.framing === 'partial') {
    // A running stream: its first block is all there is to check.
    same(blocks[0].fields.find((field) => field.name === 'id')?.value, marker, 'position');
    same(wire.events.slice(0, 1), resetEvents, 'reset event');
  } else {
    same(response.framing, 'chunked', 'framing of an event stream');
    same(wire.unterminated, '', 'text after the last blank line');
    same(blocks.slice(1).map(fieldNames), target.eventFields.slice(outcome.cursor), 'fields of the replayed blocks');
    same(wire.events, [...resetEvents, ...target.events.slice(outcome.cursor)], 'replayed events');
    same(wire.retries, [RETRY_MS], 'retry values');
    check(
      blocks.every((block) => block.comments.length === 0),
      'a comment in the stream',
    );
  }
  // Nothing the client sent comes back in the stream, but for the well-formed id in a reset
  // (values that are part of what the stream sends anyway, e.g. an event id, prove nothing).
  for (const value of sentValues) {
    if (value.length < 8 || target.body.includes(value)) continue;
    if (outcome.reset?.includes(value.toString('latin1'))) continue;
    check(!response.body.includes(value), () => `the event stream contains the sent value ${show(value)}`);
  }
}

/** A path segment for a stream id: the real one percent-encoded, near misses, garbage. */
function streamIdSegment(gen: Gen, target: Target): { segment: string; real: boolean; nodeRejects: boolean } {
  const hex = (byte: number) => `%${byte.toString(16).padStart(2, '0')}`;
  return gen.weighted<() => { segment: string; real: boolean; nodeRejects: boolean }>([
    [
      3,
      () => ({
        segment: [...target.id].map((c) => (gen.bool(0.3) ? hex(c.charCodeAt(0)) : c)).join(''),
        real: true,
        nodeRejects: false,
      }),
    ],
    [
      3,
      () => {
        const at = gen.int(0, target.id.length - 1);
        const segment = gen.pick([
          target.id.slice(0, at),
          target.id + gen.pick(['x', '-', '_', '0']),
          target.id.slice(0, at) + (target.id[at] === 'A' ? 'B' : 'A') + target.id.slice(at + 1),
          target.id.toLowerCase() === target.id ? target.id.toUpperCase() : target.id.toLowerCase(),
          `${target.id}%00`,
          `${target.id}%0d%0a`,
          `${target.id}%20`,
          'x'.repeat(gen.int(120, 400)),
        ]);
        return { segment: segment || 'x', real: false, nodeRejects: false };
      },
    ],
    [2, () => ({ segment: [...gen.bytes(48)].map(hex).join('') || '%00', real: false, nodeRejects: false })],
    [2, () => ({ segment: [...wtf8(gen.string())].map(hex).join('') || '%20', real: false, nodeRejects: false })],
    [
      2,
      () => {
        const bytes = gen.bytes(24);
        // Ends with '_': Node tolerates whitespace at the very end of the target.
        const segment = `${bytes.toString('latin1').replace(/[/?#%]/g, '_')}_`;
        return { segment, real: false, nodeRejects: [...Buffer.from(segment, 'latin1')].some(badTargetByte) };
      },
    ],
    [
      1,
      () => ({
        segment: gen.pick(['.', '..', '%2e%2e', '%2F', 'a%2Fb', '%', '%zz', '%E0%A4%A']),
        real: false,
        nodeRejects: false,
      }),
    ],
  ])();
}

/** The body of a reference read, which must be a 200 event stream. */
function referenceBody(exchange: RawExchange): Buffer {
  check(exchange.response?.statusCode === 200, () => `reference read failed: ${show(exchange.raw)}`);
  return exchange.response.body;
}

/** The epoch of the position marker that opens a stream read without Last-Event-ID. */
function positionEpoch(wire: SpecStream): string {
  const id = wire.nonEmptyBlocks[0]?.fields.find((field) => field.name === 'id')?.value ?? '';
  check(/^[0-9a-z]+-0$/.test(id), () => `no position marker: ${show(wire.nonEmptyBlocks[0])}`);
  return id.split('-')[0];
}

describe.each(['express', 'fastify'] as const)('hostile input over HTTP (%s)', (adapter) => {
  let server: RunningApp;
  let port: number;
  let finished: Target;
  let running: Target;

  beforeAll(async () => {
    server = await startSampleApp(adapter, { heartbeatMs: 0 });
    port = Number(new URL(server.baseUrl).port);
    const { id } = await createStream(server.baseUrl, { events: 6, intervalMs: 0, size: 12 });
    const whole = await rawExchange(port, rawGet(`/streams/${id}`));
    const wire = interpretEventStream(referenceBody(whole));
    same(
      wire.events.map((event) => event.type),
      [...Array<string>(6).fill('text_delta'), 'done'],
      'events of the reference stream',
    );
    finished = {
      id,
      epoch: positionEpoch(wire),
      last: 7,
      finished: true,
      events: wire.events,
      eventFields: wire.nonEmptyBlocks.slice(1).map(fieldNames),
      body: whole.response!.body,
    };
    // Starts in ten minutes: running, nothing sent yet.
    const live = await createStream(server.baseUrl, { events: 1, startDelayMs: 600_000 });
    const first = await rawExchange(port, rawGet(`/streams/${live.id}`), {
      stopWhen: (partial) => interpretEventStream(partial.body).nonEmptyBlocks.length > 0,
    });
    running = {
      id: live.id,
      epoch: positionEpoch(interpretEventStream(referenceBody(first))),
      last: 0,
      finished: false,
      events: [],
      eventFields: [],
      body: first.response!.body,
    };
  });

  afterAll(async () => {
    await server?.close();
  });

  /** A normal client still gets the whole stream, and no client is left attached. */
  async function stillServing(): Promise<void> {
    const reader = await readAll(`${server.baseUrl}/streams/${finished.id}`);
    same(reader.status, 200, 'status for a normal client');
    same(
      reader.events.map((event) => ({ type: event.event, data: event.data, lastEventId: event.id })),
      finished.events,
      'events for a normal client',
    );
    same((await fetch(`${server.baseUrl}/health`)).status, 200, '/health');
    await eventually(async () => (await getStats(server.baseUrl)).clients === 0);
  }

  test(
    'random Last-Event-ID headers and ?lastEventId= values get exactly the answer the oracle predicts',
    async () => {
      const seen: Record<string, number> = {};
      await forAllAsync(
        `Last-Event-ID over HTTP (${adapter})`,
        1_500,
        async (gen) => {
          const target = gen.bool(0.8) ? finished : running;
          gen.note('target', target.finished ? 'finished stream' : 'running stream');
          const request = lastEventIdRequest(gen, target);
          const exchange = await rawExchange(port, request.bytes, {
            stopWhen: target.finished
              ? undefined
              : (partial) => interpretEventStream(partial.body).nonEmptyBlocks.length > 0,
          });
          verify(exchange, request.outcome, target, request.sentValues);
          const kind = request.outcome.kind === 'stream' && request.outcome.reset ? 'reset' : request.outcome.kind;
          seen[kind] = (seen[kind] ?? 0) + 1;
        },
        CONCURRENCY,
      );
      // Every kind of answer was exercised.
      for (const kind of ['stream', 'reset', 'fully-seen', 'invalid-id', 'node-400', 'node-431']) {
        checkCoverage((seen[kind] ?? 0) >= 10, () => `too few "${kind}" cases: ${show(seen)}`);
      }
      await stillServing();
    },
    fuzzTimeout(20_000),
  );

  test(
    'random stream ids in the path get 200 only for the real id, else 400 or 404, never a 5xx',
    async () => {
      await forAllAsync(
        `stream ids over HTTP (${adapter})`,
        600,
        async (gen) => {
          const { segment, real, nodeRejects } = gen.note('segment', streamIdSegment(gen, finished));
          const withId = gen.bool(0.3);
          const value = withId ? headerValueBytes(gen, finished) : undefined;
          const bytes = rawGet(Buffer.from(`/streams/${segment}`, 'latin1'), value ? [['Last-Event-ID', value]] : []);
          gen.note('request', bytes.toString('latin1'));
          const exchange = await rawExchange(port, bytes);
          if (nodeRejects) return verify(exchange, { kind: 'node-400' }, finished, []);
          const badByte = value !== undefined && value.some(badHeaderByte);
          const tooLarge = bytes.length > NODE_MAX_HEADER_BYTES;
          if (real && badByte)
            return verify(exchange, { kind: tooLarge ? 'node-400-or-431' : 'node-400' }, finished, []);
          if (real && tooLarge) return verify(exchange, { kind: 'node-431' }, finished, []);
          if (real) {
            const outcome = libraryOutcome(value ? nodeHeaderValue(value) : undefined, finished);
            return verify(exchange, outcome, finished, value ? [value] : []);
          }
          check(
            !exchange.timedOut && exchange.response !== undefined,
            () => `no well-formed answer: ${show(exchange.raw)}`,
          );
          const status = exchange.response.statusCode;
          check(status !== 200, `200 for a stream id that is not the stream's`);
          // A bad header may be refused first (400 or 431 from Node); else the route: 400 or 404,
          // or 414 from Fastify's router for a parameter over its maxParamLength (100).
          check(
            [400, 404, 431, ...(adapter === 'fastify' ? [414] : [])].includes(status),
            () => `status ${status}: ${show(exchange.response!.body.toString('latin1'))}`,
          );
          if (status === 404) verify(exchange, { kind: 'not-found' }, finished, []);
        },
        CONCURRENCY,
      );
      await stillServing();
    },
    fuzzTimeout(20_000),
  );

  /** Sends random events into a new stream with this id, ends it, and reads it over HTTP. */
  async function serveRandomStream(gen: Gen, id: string): Promise<void> {
    const registry = server.app.get(StreamRegistry);
    const stream = registry.create(undefined, { id });
    try {
      const expected: SpecEvent[] = [];
      for (let i = gen.int(0, 8); i > 0; i--) {
        const type = gen.string({ singleLine: true, wellFormed: true, maxPieces: 8 }) || 'x';
        const data = gen.bool(0.6) ? gen.string() : gen.json();
        const event = stream.send({ type, data })!;
        const serialized = typeof data === 'string' ? data : JSON.stringify(data);
        same(event.data, serialized, 'serialised data');
        expected.push({ type, data: wireData(serialized), lastEventId: event.id });
      }
      gen.note('events', expected);
      stream.complete();
      const final = stream.eventAt(stream.lastSequence)!;
      expected.push({ type: 'done', data: final.data, lastEventId: final.id });
      const exchange = await rawExchange(port, rawGet(`/streams/${id}`));
      check(
        exchange.response !== undefined,
        () => `no well-formed answer (${exchange.malformed}): ${show(exchange.raw)}`,
      );
      const { response } = exchange;
      same(response.statusCode, 200, 'status');
      same(response.framing, 'chunked', 'framing');
      const wire = interpretEventStream(response.body);
      same(wire.unterminated, '', 'text after the last blank line');
      same(wire.nonEmptyBlocks.length, expected.length + 1, 'blocks');
      same(fieldNames(wire.nonEmptyBlocks[0]), ['id', 'retry'], 'fields of the first block');
      same(wire.events, expected, 'events over HTTP');
      same(wire.retries, [RETRY_MS], 'retry values');
    } finally {
      registry.remove(id);
    }
  }

  test(
    'random events with hostile types and data reach a client over HTTP exactly as sent',
    async () => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
      await forAllAsync(
        `hostile events over HTTP (${adapter})`,
        300,
        async (gen, index) => {
          // Unique per case: one character (the case's own) or a numbered prefix, up to 100 in all.
          const prefix = `${index}_`;
          const id =
            index < alphabet.length && gen.bool(0.2)
              ? alphabet[index]
              : prefix +
                Array.from({ length: gen.int(0, 100 - prefix.length) }, () => gen.pick([...alphabet])).join('');
          await serveRandomStream(gen, gen.note('id', id));
        },
        CONCURRENCY,
      );
      await stillServing();
    },
    fuzzTimeout(20_000),
  );

  // Found by this fuzz (fixed): Fastify's router refuses parameters over 100 characters by
  // default, so ids of 101 to 128 characters could not be followed; the sample app now sets
  // maxParamLength: 128.
  test(
    'a stream id of any length the library accepts (101 to 128 characters here) can be followed over HTTP',
    async () => {
      await forAllAsync(
        `long stream ids over HTTP (${adapter})`,
        50,
        async (gen, index) => {
          const length = index === 0 ? 128 : gen.int(101, 128);
          await serveRandomStream(gen, gen.note('id', `${index}`.padEnd(length, 'x')));
        },
        CONCURRENCY,
      );
    },
    fuzzTimeout(10_000),
  );
});
