import 'reflect-metadata';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  Controller,
  Inject,
  Module,
  Param,
  Sse,
  UseGuards,
  type INestApplication,
  type MessageEvent,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { EventSource } from 'eventsource';
import { Subject, type Observable } from 'rxjs';
import { InProcessStreamBus, LastEventId, StreamGuard, StreamingModule, StreamRegistry } from 'nestjs-meridian-stream';
import { eventually } from '../support/eventually.js';
import { SseReader } from '../support/sse-reader.js';
import { freePort } from '../support/spawned-app.js';

/*
 * A plain `@Sse()` route with no StreamGuard: what the README shows as the least a route needs for
 * streams held in memory. observe() answers 404 / 400 / 204 / 503 itself, and app.close() cuts
 * event streams left open on any route, this one and a hand-written one.
 */

/** Emits nothing and never completes: only shutdown can end its responses. */
const silence = new Subject<MessageEvent>();

@Controller()
class PlainController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @Sse('plain/:id')
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }

  /**
   * The same with no cap on what waits for a client that is not reading (Nest drops such a
   * client past 4 MiB by default), so that only shutdown can end it.
   */
  @Sse('unbounded/:id', { maxPendingDataLength: 0 })
  unbounded(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }

  /** A hand-written route that has nothing to do with the library. */
  @Sse('silence')
  silence(): Observable<MessageEvent> {
    return silence;
  }
}

/** The same route with the guard, on the method or on the controller: never warned about. */
@Controller('guarded')
class GuardedController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @Sse(':id')
  @UseGuards(StreamGuard)
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }
}

@Controller('whole')
@UseGuards(StreamGuard)
class GuardedByClassController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @Sse(':id')
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }
}

describe('start-up warning about @Sse() routes without StreamGuard', () => {
  async function warningsAtStart(options: Parameters<typeof StreamingModule.forRoot>[0]): Promise<string[]> {
    const warnings: string[] = [];
    const logger = { log() {}, error() {}, warn: (message: string) => warnings.push(message) };
    @Module({
      imports: [StreamingModule.forRoot({ ...options, logger })],
      controllers: [PlainController, GuardedController, GuardedByClassController],
    })
    class RoutesModule {}
    const app = await NestFactory.create(RoutesModule, { logger: false });
    await app.init();
    await app.close();
    return warnings;
  }

  it('names each route that reads @LastEventId() without the guard, when authorize, a store or a bus needs it', async () => {
    for (const options of [{ authorize: () => true }, { bus: new InProcessStreamBus() }]) {
      const warnings = await warningsAtStart(options);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^PlainController\.follow, PlainController\.unbounded: @Sse\(\) route/);
      expect(warnings[0]).toMatch(/Add @UseGuards\(StreamGuard\), or use @ResumableSse\(\)\.$/);
    }
  });

  it('says nothing when the streams are all in memory and nobody is to be asked', async () => {
    expect(await warningsAtStart({})).toEqual([]);
  });
});

describe.each(['express', 'fastify'] as const)('plain @Sse() without StreamGuard (%s)', (adapter) => {
  let app: INestApplication;
  let base: string;
  let registry: StreamRegistry;
  let closed = false;
  const warnings: string[] = [];

  beforeEach(async () => {
    warnings.length = 0;
    closed = false;
    const logger = { log() {}, error() {}, warn: (message: string) => warnings.push(message) };
    @Module({
      imports: [
        StreamingModule.forRoot({
          heartbeatMs: 0,
          retryMs: 50,
          maxClientsPerStream: 3,
          bufferMaxBytes: 64 * 1024 * 1024,
          shutdownGraceMs: 1_000,
          logger,
        }),
      ],
      controllers: [PlainController],
    })
    class PlainModule {}
    app =
      adapter === 'fastify'
        ? await NestFactory.create(PlainModule, new FastifyAdapter(), { logger: false })
        : await NestFactory.create(PlainModule, { logger: false });
    await app.listen(await freePort(), '127.0.0.1');
    base = `http://127.0.0.1:${((app.getHttpServer() as http.Server).address() as AddressInfo).port}`;
    registry = app.get(StreamRegistry);
  });

  afterEach(async () => {
    if (!closed) await app.close();
  });

  it('answers 404, 400, 503 and 204 before the event stream starts, and 200 otherwise', async () => {
    const unknown = await fetch(`${base}/plain/missing`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ statusCode: 404, code: 'STREAM_NOT_FOUND' });

    const stream = registry.create(undefined, { id: 'statuses' });
    const ids = [1, 2].map((data) => stream.send({ data })!.id);
    const malformed = await fetch(`${base}/plain/statuses`, { headers: { 'last-event-id': 'not-an-id' } });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: 'INVALID_EVENT_ID' });

    const readers = [1, 2, 3].map(() => new SseReader(`${base}/plain/statuses`));
    await Promise.all(readers.map((reader) => reader.waitFor((r) => r.events.length === 2)));
    const full = await fetch(`${base}/plain/statuses`);
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('1');
    expect(await full.json()).toMatchObject({ code: 'STREAM_LIMIT_REACHED' });

    stream.complete();
    await Promise.all(readers.map((reader) => reader.done));
    const finalId = readers[0].events.at(-1)!.id!;
    expect(readers[0].events.map((event) => event.id)).toEqual([...ids, finalId]);
    const fullySeen = await fetch(`${base}/plain/statuses`, { headers: { 'last-event-id': finalId } });
    expect(fullySeen.status).toBe(204);
    expect(await fullySeen.text()).toBe('');
    const rest = new SseReader(`${base}/plain/statuses`, { 'last-event-id': ids[0] });
    await rest.done;
    expect(rest.status).toBe(200);
    expect(rest.events.map((event) => event.id)).toEqual([ids[1], finalId]);
  });

  it('an EventSource cut mid-stream resumes with no gap and no duplicate, and stops at the end', async () => {
    const stream = registry.create(undefined, { id: 'resume' });
    const source = new EventSource(`${base}/plain/resume`);
    const received: string[] = [];
    let opens = 0;
    source.addEventListener('open', () => opens++);
    source.addEventListener('message', (event) => received.push(event.data));
    let finished = false;
    source.addEventListener('done', () => (finished = true));
    await eventually(() => opens === 1);
    for (let i = 0; i < 10; i++) stream.send({ data: i });
    await eventually(() => received.length === 10);
    // Every connection of the server cut at once, as a network drop would.
    (app.getHttpServer() as http.Server).closeAllConnections();
    for (let i = 10; i < 20; i++) stream.send({ data: i });
    await eventually(() => opens === 2 && received.length === 20);
    stream.complete();
    // The final event ends the response; the reconnect with the final id gets 204 and EventSource stops.
    await eventually(() => finished && source.readyState === EventSource.CLOSED);
    expect(opens).toBe(2);
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('app.close() ends its clients with the final event and cuts the event streams left open on any route', async () => {
    // 30 MB for a client that stops reading after the first event: more than the sockets hold.
    const finished = registry.create(undefined, { id: 'big' });
    for (let i = 0; i < 600; i++) finished.send({ data: 'x'.repeat(50_000) });
    finished.complete();
    const stalled = new SseReader(`${base}/unbounded/big`);
    await stalled.waitFor((r) => r.events.length >= 1);
    stalled.pause();
    const silent = new SseReader(`${base}/silence`);
    await eventually(() => silent.status === 200);
    registry.create(undefined, { id: 'live' }).send({ data: 'first' });
    const live = new SseReader(`${base}/plain/live`);
    await live.waitFor((r) => r.events.length === 1);

    await app.close();
    closed = true;

    expect(live.events.map((event) => event.event ?? 'message')).toEqual(['message', 'cancelled']);
    expect(warnings.filter((message) => /Cut 2 SSE connection/.test(message))).toHaveLength(1);
    await silent.done;
    expect(silent.ended).toBe(true);
    stalled.destroy();
    await stalled.done;
  });
});
