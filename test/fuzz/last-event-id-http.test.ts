import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { Controller, Get, HttpCode, Module, Param, Req, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { readLastEventId } from '../../lib/nest/last-event-id.js';
import {
  checkCoverage,
  forAllAsync,
  fuzzTimeout,
  Gen,
  randomLastEventId,
  rawExchange,
  same,
} from '../support/fuzz-sse.js';
import { freePort } from '../support/spawned-app.js';

/*
 * readLastEventId() reads the headers of a Node request through Node's own getter instead of
 * `request.headers` (a property read on an Express request is a full lookup: see last-event-id.ts).
 * Over real HTTP, on Express requests (prototype swapped) and on bare node:http ones, it must answer
 * exactly what reading `request.headers` and `request.query` answers: header names in any case,
 * repeated headers (Node joins them with ", "), empty values, the query fallback, and a header a
 * middleware rewrote after Node parsed it.
 */

interface Seen {
  actual: string | undefined;
  expected: string | undefined;
}

function firstString(value: unknown): string | undefined {
  const single = Array.isArray(value) ? value[0] : value;
  return typeof single === 'string' ? single : undefined;
}

/** What readLastEventId() must answer, from the request's public properties. */
function expectedFor(request: IncomingMessage & { query?: Record<string, unknown> }): string | undefined {
  return firstString(request.headers['last-event-id']) || firstString(request.query?.lastEventId) || undefined;
}

const seen = new Map<string, Seen>();

@Controller()
class CheckController {
  @Get('check/:tag')
  @HttpCode(204)
  check(@Param('tag') tag: string, @Req() request: IncomingMessage & { query?: Record<string, unknown> }): void {
    seen.set(tag, { actual: readLastEventId(request), expected: expectedFor(request) });
  }
}

@Module({ controllers: [CheckController] })
class CheckModule {}

let app: INestApplication;
let bare: http.Server;
const ports: Record<'check' | 'bare', number> = { check: 0, bare: 0 };

beforeAll(async () => {
  // Nest on Express: Express swaps the prototype of every request.
  app = await NestFactory.create(CheckModule, { logger: false });
  app.use((request: IncomingMessage, _response: ServerResponse, next: () => void) => {
    // A middleware may rewrite the header after Node parsed it: the rewrite must win.
    const rewrite = request.headers['x-rewrite'];
    if (typeof rewrite === 'string') request.headers['last-event-id'] = rewrite === '-' ? undefined : rewrite;
    next();
  });
  await app.listen(await freePort(), '127.0.0.1');
  ports.check = (app.getHttpServer().address() as AddressInfo).port;
  // Node's own request, without Express: no prototype swap and no `query`.
  bare = http.createServer((request, response) => {
    const tag = request.url?.split('/')[2]?.split('?')[0] ?? '';
    seen.set(tag, { actual: readLastEventId(request), expected: expectedFor(request) });
    response.statusCode = 204;
    response.end();
  });
  const barePort = await freePort();
  await new Promise<void>((resolve) => bare.listen(barePort, '127.0.0.1', resolve));
  ports.bare = (bare.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
  bare.closeAllConnections();
  await new Promise((resolve) => bare.close(resolve));
});

describe('readLastEventId() on real requests', () => {
  test(
    'answers what request.headers and request.query answer, on Express and on bare node:http',
    async () => {
      const outcomes: Record<string, number> = {};
      await forAllAsync('readLastEventId over HTTP', 400, async (gen: Gen) => {
        const tag = `t${gen.int(0, 1e9)}`;
        // What a header line can carry (the hostile bytes are the HTTP fuzz's business).
        const printable = () =>
          randomLastEventId(gen)
            .replace(/[^\x21-\x7e]/g, '')
            .slice(0, 200);
        const value = () => gen.pick([printable(), '', `${printable()} \t `, `\t${printable()}`]);
        const name = () => gen.pick(['Last-Event-ID', 'last-event-id', 'LAST-EVENT-ID', 'Last-event-Id']);
        const headers = Array.from(
          {
            length: gen.weighted([
              [3, () => 0],
              [5, () => 1],
              [2, () => gen.int(2, 3)],
            ])(),
          },
          () => `${name()}: ${value()}`,
        );
        if (gen.bool(0.15)) headers.push(`X-Rewrite: ${gen.pick(['-', printable() || 'r'])}`);
        const query = gen.bool(0.3) ? `?lastEventId=${encodeURIComponent(printable())}` : gen.bool(0.1) ? '?x=1' : '';
        const base = gen.bool(0.3) ? ('bare' as const) : ('check' as const);
        const request = [
          `GET /${base}/${tag}${query} HTTP/1.1`,
          'Host: 127.0.0.1',
          ...headers,
          'Connection: close',
          '',
          '',
        ];
        gen.note('request', request.join('\r\n'));
        const exchange = await rawExchange(ports[base], Buffer.from(request.join('\r\n'), 'latin1'));
        same(exchange.response?.statusCode, 204, 'status');
        const result = seen.get(tag);
        same(result !== undefined, true, 'handler ran');
        same(result!.actual, result!.expected, 'readLastEventId');
        const kind = `${base}:${headers.filter((h) => !h.startsWith('X-')).length > 1 ? 'repeated' : 'single'}:${result!.expected === undefined ? 'none' : 'some'}`;
        outcomes[kind] = (outcomes[kind] ?? 0) + 1;
      });
      const wanted = {
        'check:repeated:some': 5,
        'check:single:some': 20,
        'check:single:none': 20,
        'bare:single:some': 10,
        'bare:repeated:some': 3,
      };
      checkCoverage(
        Object.entries(wanted).every(([kind, least]) => (outcomes[kind] ?? 0) >= least),
        () => `outcomes ${JSON.stringify(outcomes)}, wanted at least ${JSON.stringify(wanted)}`,
      );
    },
    fuzzTimeout(60_000),
  );
});
