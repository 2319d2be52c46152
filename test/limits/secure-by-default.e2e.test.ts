import 'reflect-metadata';
import net from 'node:net';
import { Controller, Inject, Module, Param, Req, Sse, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Observable } from 'rxjs';
import {
  AdmittedStream,
  LastEventId,
  ResumableSse,
  ResumableStream,
  StreamGuard,
  StreamingModule,
  StreamRegistry,
  type SseMessage,
} from 'nestjs-meridian-stream';
import { readAll } from '../support/sse-reader.js';
import { freePort } from '../support/spawned-app.js';

type Request = { headers: Record<string, string | undefined> };

/** Four ways to serve the same streams, with a module-wide `authorize` that lets only alice in. */
@Controller()
class RoutesController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @ResumableSse('taught/:id')
  taught(@AdmittedStream() stream: ResumableStream): ResumableStream {
    return stream;
  }

  @Sse('unguarded/:id')
  unguarded(@Param('id') id: string, @LastEventId() lastEventId?: string): Observable<SseMessage> {
    return this.registry.observe(id, lastEventId);
  }

  @Sse('guarded/:id')
  @UseGuards(StreamGuard)
  guarded(@Req() request: object, @Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId, { request });
  }

  @Sse('guarded-without-request/:id')
  @UseGuards(StreamGuard)
  guardedWithoutRequest(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }
}

describe('with authorize configured, observe() serves only requests that StreamGuard let in', () => {
  let app: INestApplication;
  let base: string;
  const warnings: string[] = [];

  beforeAll(async () => {
    const logger = {
      log: () => undefined,
      warn: (message: string) => void warnings.push(message),
      error: () => undefined,
    };
    const authorize = (request: unknown) => (request as Request).headers['x-user'] === 'alice';
    @Module({
      imports: [StreamingModule.forRoot({ authorize, heartbeatMs: 0, logger })],
      controllers: [RoutesController],
    })
    class SecureModule {}
    app = await NestFactory.create(SecureModule, { logger: false });
    await app.listen(await freePort(), '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as net.AddressInfo).port}`;
    const stream = app.get(StreamRegistry).create(undefined, { id: 'room' });
    stream.send({ data: 'hello' });
    stream.complete();
  });
  afterAll(() => app.close());

  const statusOf = async (path: string, user: string) =>
    (await fetch(`${base}${path}`, { headers: { 'x-user': user } })).status;

  it('serves alice on @ResumableSse() and on a guarded @Sse() route that passes the request', async () => {
    for (const path of ['/taught/room', '/guarded/room']) {
      const read = await readAll(`${base}${path}`, { 'x-user': 'alice' });
      expect([path, read.events.map((event) => event.event)]).toEqual([path, ['message', 'done']]);
    }
  });

  it('refuses mallory with 404 on the guarded routes, as for an unknown stream', async () => {
    expect(await statusOf('/taught/room', 'mallory')).toBe(404);
    expect(await statusOf('/guarded/room', 'mallory')).toBe(404);
  });

  it('refuses everyone (404) where observe() cannot tell that the guard let the request in, naming the fix once', async () => {
    expect(await statusOf('/unguarded/room', 'alice')).toBe(404);
    expect(await statusOf('/guarded-without-request/room', 'alice')).toBe(404);
    expect(await statusOf('/unguarded/room', 'mallory')).toBe(404);
    const named = warnings.filter((warning) => warning.includes('was not let in by StreamGuard'));
    expect(named).toHaveLength(1);
    expect(named[0]).toMatch(/pass \{ request \} to observe\(\)/);
  });
});
