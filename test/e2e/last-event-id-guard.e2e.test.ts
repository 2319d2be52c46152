import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  Controller,
  Get,
  Injectable,
  Module,
  Param,
  UseGuards,
  UseInterceptors,
  type CallHandler,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { from, switchMap, type Observable } from 'rxjs';
import { LastEventId, StreamGuard, StreamingModule, StreamRegistry } from 'nestjs-meridian-stream';
import { freePort } from '../support/spawned-app.js';

/*
 * StreamGuard hands the Last-Event-ID it read to @LastEventId() through one slot, not a map by
 * request. Requests must never get each other's id, also when the route waits between the guard
 * and its parameters (an interceptor doing I/O) so that other requests' guards run in between.
 */

/** Waits 0 to 3 ms before the handler (its parameters are read after it), like an interceptor doing I/O. */
@Injectable()
class JitterInterceptor implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return from(sleep(Math.floor(Math.random() * 4))).pipe(switchMap(() => next.handle()));
  }
}

@Controller()
class EchoController {
  @Get('plain/:id')
  @UseGuards(StreamGuard)
  plain(@Param('id') _id: string, @LastEventId() lastEventId?: string): { lastEventId: string | null } {
    return { lastEventId: lastEventId ?? null };
  }

  @Get('waiting/:id')
  @UseGuards(StreamGuard)
  @UseInterceptors(JitterInterceptor)
  waiting(@Param('id') _id: string, @LastEventId() lastEventId?: string): { lastEventId: string | null } {
    return { lastEventId: lastEventId ?? null };
  }
}

@Module({ imports: [StreamingModule.forRoot({ heartbeatMs: 0 })], controllers: [EchoController] })
class EchoModule {}

let app: INestApplication;
let port = 0;
const ids: string[] = [];

beforeAll(async () => {
  app = await NestFactory.create(EchoModule, { logger: false });
  await app.listen(await freePort(), '127.0.0.1');
  port = ((app.getHttpServer() as http.Server).address() as AddressInfo).port;
  const stream = app.get(StreamRegistry).create(undefined, { id: 'echo' });
  ids.push(stream.lastEventId);
  for (let i = 0; i < 40; i++) ids.push(stream.send({ data: i })!.id);
});

afterAll(async () => {
  await app.close();
});

test.each(['plain', 'waiting'])(
  '@LastEventId() answers each of 300 concurrent requests its own id (%s route)',
  async (route) => {
    const sent = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? undefined : ids[(i * 13) % ids.length]));
    const answers = await Promise.all(
      sent.map((id) =>
        fetch(`http://127.0.0.1:${port}/${route}/echo`, { headers: id === undefined ? {} : { 'last-event-id': id } }),
      ),
    );
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { lastEventId: string | null }).lastEventId).toBe(sent[i] ?? null);
    }
  },
);

/*
 * The guard's own 204 over HTTP: this route does not call observe(), which would answer 204
 * itself, so only the guard can refuse a client that already has the final event.
 */
test('a route that does not observe() still answers 204 to a client with the final event (the guard decides)', async () => {
  const stream = app.get(StreamRegistry).create(undefined, { id: 'finished' });
  stream.send({ data: 'only' });
  stream.complete();
  const ask = (lastEventId: string) =>
    fetch(`http://127.0.0.1:${port}/plain/finished`, { headers: { 'last-event-id': lastEventId } });
  const seen = await ask(stream.lastEventId);
  expect(seen.status).toBe(204);
  expect(await seen.text()).toBe('');
  const behind = await ask(`${stream.epoch}-1`);
  expect(behind.status).toBe(200);
  expect(await behind.json()).toEqual({ lastEventId: `${stream.epoch}-1` });
});
