import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MAX_JSON_BODY_BYTES } from '../../sample-app/src/http-input.js';
import { rawExchange, type RawExchange } from '../support/fuzz-sse.js';
import { createStream } from '../support/sample-app.js';
import { spawnSampleApp, type SpawnedApp } from '../support/spawned-app.js';

/*
 * Issue item 7: the sample app gives a hostile client the same answer on Express and on Fastify.
 * Every request of the table goes byte for byte over a raw socket to the built app (`npm start`'s
 * artifact) run with HTTP_ADAPTER=express and with HTTP_ADAPTER=fastify, each its own process. The
 * two answers must be equal (status, content type, JSON body; the ids of new streams aside) and
 * have the status the table gives (docs/sample-app-http.md is this table in prose).
 */

type Adapter = 'express' | 'fastify';

interface Case {
  readonly name: string;
  /** The request; `fresh()` creates a running stream on the app it goes to and gives its id. */
  readonly request: (fresh: () => Promise<string>) => Promise<Buffer> | Buffer;
  readonly status: number;
  /** What the JSON body must hold besides `statusCode` (for errors) or be shaped like. */
  readonly body?: Record<string, unknown>;
}

const JSON_TYPE = 'application/json';

/** A request, byte for byte: Content-Length is added for a body unless a framing header is given. */
function request(method: string, target: string, headers: Record<string, string> = {}, body?: string | Buffer): Buffer {
  const bytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  let head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  const framed = Object.keys(headers).some((name) => /^(content-length|transfer-encoding)$/i.test(name));
  if (bytes && !framed) head += `Content-Length: ${bytes.length}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), bytes ?? Buffer.alloc(0)]);
}

const post = (headers: Record<string, string>, body?: string | Buffer) => () =>
  request('POST', '/streams', headers, body);
const postJson = (body: string | Buffer) => post({ 'Content-Type': JSON_TYPE }, body);
const chunked = (body: string) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;

const created = { stream_id: expect.any(String), stream_url: expect.stringMatching(/^\/streams\//) };
const notAnObject = { error: 'Bad Request', message: expect.stringMatching(/^The body must be a JSON object/) };
const notJson = { error: 'Bad Request', message: 'The body is not valid JSON.' };
const prototypeKey = { error: 'Bad Request', message: expect.stringMatching(/must not contain the keys "__proto__"/) };
const notJsonType = { error: 'Unsupported Media Type', message: expect.stringMatching(/^Content-Type must be/) };
const tooLarge = { error: 'Payload Too Large', message: expect.stringMatching(/^The body is larger than 65536 bytes/) };
const notFound = { code: 'STREAM_NOT_FOUND', message: expect.stringMatching(/does not exist or has expired/) };
const malformedUrl = { error: 'Bad Request', message: expect.stringMatching(/malformed percent-encoding/) };
const long = (length: number) => 'a'.repeat(length);

const CASES: Case[] = [
  // POST /streams: the body.
  { name: 'no body, no Content-Type', request: () => request('POST', '/streams'), status: 201, body: created },
  { name: 'Content-Length: 0', request: post({ 'Content-Length': '0' }), status: 201, body: created },
  { name: 'empty JSON body', request: postJson(''), status: 201, body: created },
  {
    name: 'empty chunked JSON body',
    request: post({ 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked' }, '0\r\n\r\n'),
    status: 201,
    body: created,
  },
  { name: 'a JSON object', request: postJson('{"events": 1, "intervalMs": 0}'), status: 201, body: created },
  {
    name: 'a chunked JSON object',
    request: post({ 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked' }, chunked('{"events": 1}')),
    status: 201,
    body: created,
  },
  {
    name: 'APPLICATION/JSON; Charset="UTF-8"',
    request: post({ 'Content-Type': 'APPLICATION/JSON; Charset="UTF-8"' }, '{"events": 1}'),
    status: 201,
    body: created,
  },
  { name: 'a byte order mark before JSON', request: postJson('\ufeff{"events": 1}'), status: 201, body: created },
  {
    name: 'a 2000-character prompt, escaped (12 KB)',
    request: postJson(`{"events": 1, "prompt": "${'\\ud83d\\ude00'.repeat(1_000)}"}`),
    status: 201,
    body: created,
  },
  { name: 'null', request: postJson('null'), status: 400, body: notAnObject },
  { name: '[]', request: postJson('[]'), status: 400, body: notAnObject },
  { name: 'a JSON string', request: postJson('"events"'), status: 400, body: notAnObject },
  { name: 'a JSON number', request: postJson('42'), status: 400, body: notAnObject },
  { name: 'invalid JSON', request: postJson('{"events": '), status: 400, body: notJson },
  { name: 'whitespace only', request: postJson('  \r\n'), status: 400, body: notJson },
  {
    name: 'bytes that are not UTF-8',
    request: postJson(Buffer.concat([Buffer.from('{"prompt": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])),
    status: 400,
    body: { error: 'Bad Request', message: 'The body is not valid UTF-8.' },
  },
  { name: '{"__proto__": {...}}', request: postJson('{"__proto__": {"events": 1}}'), status: 400, body: prototypeKey },
  {
    name: '"__proto__" after a valid field',
    request: postJson('{"events": 1, "__proto__": {"polluted": true}}'),
    status: 400,
    body: prototypeKey,
  },
  {
    name: '{"constructor": {"prototype": ...}}',
    request: postJson('{"constructor": {"prototype": {"polluted": true}}}'),
    status: 400,
    body: prototypeKey,
  },
  {
    name: 'a nested "prototype" key',
    request: postJson('{"events": [{"prototype": 1}]}'),
    status: 400,
    body: prototypeKey,
  },
  {
    name: 'a key of Object.prototype ("toString")',
    request: postJson('{"toString": 1}'),
    status: 400,
    body: { error: 'Bad Request', message: expect.stringMatching(/^Unknown field\(s\): toString\./) },
  },
  {
    name: 'text/plain body',
    request: post({ 'Content-Type': 'text/plain' }, '{"events": 1}'),
    status: 415,
    body: notJsonType,
  },
  { name: 'text/plain, no body', request: post({ 'Content-Type': 'text/plain' }), status: 415, body: notJsonType },
  {
    name: 'multipart/form-data body',
    request: post(
      { 'Content-Type': 'multipart/form-data; boundary=XyZ' },
      '--XyZ\r\nContent-Disposition: form-data; name="events"\r\n\r\n1\r\n--XyZ--\r\n',
    ),
    status: 415,
    body: notJsonType,
  },
  {
    name: 'urlencoded body',
    request: post({ 'Content-Type': 'application/x-www-form-urlencoded' }, 'events=1'),
    status: 415,
    body: notJsonType,
  },
  {
    name: 'application/merge-patch+json',
    request: post({ 'Content-Type': 'application/merge-patch+json' }, '{"events": 1}'),
    status: 415,
    body: notJsonType,
  },
  {
    name: 'a body without Content-Type',
    request: post({}, '{"events": 1}'),
    status: 415,
    body: { error: 'Unsupported Media Type', message: 'A body needs Content-Type: application/json.' },
  },
  {
    name: 'charset=latin1',
    request: post({ 'Content-Type': 'application/json; charset=latin1' }, '{"events": 1}'),
    status: 415,
    body: { error: 'Unsupported Media Type', message: 'The body must be UTF-8, not charset "latin1".' },
  },
  {
    name: 'a gzip body',
    request: post({ 'Content-Type': JSON_TYPE, 'Content-Encoding': 'gzip' }, gzipSync('{"events": 1}')),
    status: 415,
    body: { error: 'Unsupported Media Type', message: 'Content-Encoding "gzip" is not supported.' },
  },
  {
    name: 'a Content-Type that is no media type',
    request: post({ 'Content-Type': 'json' }, '{"events": 1}'),
    status: 415,
    body: { error: 'Unsupported Media Type', message: 'Content-Type "json" is not a media type.' },
  },
  {
    name: 'Content-Length over the limit',
    request: postJson(`{"prompt": "${'x'.repeat(MAX_JSON_BODY_BYTES)}"}`),
    status: 413,
    body: tooLarge,
  },
  {
    name: 'a chunked body over the limit (no Content-Length)',
    request: post(
      { 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked' },
      chunked(`{"prompt": "${'x'.repeat(MAX_JSON_BODY_BYTES)}"}`),
    ),
    status: 413,
    body: tooLarge,
  },
  // The routes: paths and stream ids.
  { name: 'POST /streams/ (trailing slash)', request: () => request('POST', '/streams/'), status: 201, body: created },
  { name: 'POST /STREAMS', request: () => request('POST', '/STREAMS'), status: 201, body: created },
  { name: 'POST /stream%73 (encoded "s")', request: () => request('POST', '/stream%73'), status: 201, body: created },
  {
    name: 'DELETE /Streams/<id>/ (case, trailing slash)',
    request: async (fresh) => request('DELETE', `/Streams/${await fresh()}/`),
    status: 200,
    body: { stream_id: expect.any(String), state: 'cancelled' },
  },
  {
    name: 'POST /streams/<id>/persist with a text/plain body (ignored)',
    request: async (fresh) =>
      request('POST', `/streams/${await fresh()}/persist`, { 'Content-Type': 'text/plain' }, 'hi'),
    status: 200,
    body: { persisted: expect.any(Number), cleared: expect.any(Number) },
  },
  {
    name: 'GET an id of 129 characters',
    request: () => request('GET', `/streams/${long(129)}`),
    status: 404,
    body: notFound,
  },
  {
    name: 'DELETE an id of 129 characters',
    request: () => request('DELETE', `/streams/${long(129)}`),
    status: 404,
    body: notFound,
  },
  {
    name: 'POST persist on an id of 129 characters',
    request: () => request('POST', `/streams/${long(129)}/persist`),
    status: 404,
    body: notFound,
  },
  {
    name: 'GET an id of 8000 characters',
    request: () => request('GET', `/streams/${long(8_000)}`),
    status: 404,
    body: notFound,
  },
  {
    name: 'GET an id past Node’s head limit (20000 characters)',
    request: () => request('GET', `/streams/${long(20_000)}`),
    status: 431,
    body: { error: 'Request Header Fields Too Large' },
  },
  {
    name: 'GET an id with an encoded slash',
    request: () => request('GET', '/streams/a%2Fb'),
    status: 404,
    body: notFound,
  },
  {
    name: 'GET an id with an encoded space',
    request: () => request('GET', '/streams/a%20b'),
    status: 404,
    body: notFound,
  },
  { name: 'GET an id with %00', request: () => request('GET', '/streams/a%00b'), status: 404, body: notFound },
  { name: 'GET a unicode id', request: () => request('GET', '/streams/%C3%A9t%C3%A9'), status: 404, body: notFound },
  {
    name: 'DELETE an emoji id',
    request: () => request('DELETE', '/streams/%F0%9F%98%80'),
    status: 404,
    body: notFound,
  },
  { name: 'GET an id of "%2e%2e"', request: () => request('GET', '/streams/%2e%2e'), status: 404, body: notFound },
  { name: 'GET an id "%zz"', request: () => request('GET', '/streams/%zz'), status: 400, body: malformedUrl },
  {
    name: 'POST persist on "%FF"',
    request: () => request('POST', '/streams/%FF/persist'),
    status: 400,
    body: malformedUrl,
  },
  {
    name: 'DELETE a lone surrogate',
    request: () => request('DELETE', '/streams/%ED%A0%80'),
    status: 400,
    body: malformedUrl,
  },
  {
    name: 'an unknown path with "%zz"',
    request: () => request('GET', '/nowhere/%zz'),
    status: 400,
    body: malformedUrl,
  },
  {
    name: 'DELETE with a Content-Type that is no media type',
    request: () => request('DELETE', '/streams/abc', { 'Content-Type': 'garbage' }),
    status: 415,
    body: { error: 'Unsupported Media Type', message: 'Content-Type "garbage" is not a media type.' },
  },
  {
    name: 'no HTTP request at all',
    request: () => Buffer.from('GARBAGE\r\n\r\n'),
    status: 400,
    body: { error: 'Bad Request' },
  },
];

/** What must be equal on both adapters: status, media type, JSON body with new ids masked. */
function answerOf(exchange: RawExchange): { status: number; type: string; body: unknown } {
  const response = exchange.response;
  if (!response) throw new Error(`no well-formed answer (${exchange.malformed}): ${exchange.raw.toString('latin1')}`);
  const type = (response.headers['content-type']?.[0] ?? '').split(';')[0].trim().toLowerCase();
  const text = response.body.toString('utf8');
  let body: unknown = text;
  if (type === JSON_TYPE) {
    body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null && 'stream_id' in body) {
      body = { ...body, stream_id: '<new id>', ...('stream_url' in body ? { stream_url: '/streams/<new id>' } : {}) };
    }
  }
  return { status: response.statusCode, type, body };
}

describe('the sample app answers hostile requests alike on Express and Fastify', () => {
  const apps = {} as Record<Adapter, SpawnedApp>;

  beforeAll(async () => {
    [apps.express, apps.fastify] = await Promise.all(
      (['express', 'fastify'] as const).map((adapter) => spawnSampleApp({ HTTP_ADAPTER: adapter })),
    );
  });
  afterAll(async () => {
    await Promise.all(Object.values(apps).map((app) => app.stop()));
  });

  async function send(adapter: Adapter, testCase: Case) {
    const { baseUrl } = apps[adapter];
    const bytes = await testCase.request(
      async () => (await createStream(baseUrl, { events: 1, startDelayMs: 600_000 })).id,
    );
    return answerOf(await rawExchange(Number(new URL(baseUrl).port), bytes, { timeoutMs: 10_000 }));
  }

  test.each(CASES.map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, testCase) => {
    const express = await send('express', testCase);
    const fastify = await send('fastify', testCase);
    expect(fastify).toEqual(express);
    expect(express.status).toBe(testCase.status);
    expect(express.type).toBe(JSON_TYPE);
    const body = express.body as Record<string, unknown>;
    if (testCase.status >= 400)
      expect(body).toMatchObject({ statusCode: testCase.status, message: expect.any(String) });
    if (testCase.body) {
      const fields = Object.fromEntries(Object.keys(testCase.body).map((key) => [key, body[key]]));
      expect(fields).toEqual(testCase.body);
    }
  });
});
