import 'reflect-metadata';
import { Controller, Get, Module, Param, Query, Req, Sse, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  AdmittedStream,
  LastEventId,
  ResumableSse,
  ResumableStream,
  StreamGuard,
  StreamingModule,
  StreamRegistry,
  StreamResponse,
  type StreamingModuleOptions,
} from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';
import { freePort } from '../support/spawned-app.js';
import { SseReader } from '../support/sse-reader.js';

/** Every way the library answers an event stream, each resolving the stream by its id. */
@Controller('s')
class ResumeRoutes {
  constructor(private readonly registry: StreamRegistry) {}

  @ResumableSse('direct/:id')
  direct(@AdmittedStream() stream: ResumableStream) {
    return stream;
  }

  @ResumableSse('nest/:id', { pipeline: 'nest' })
  nest(@AdmittedStream() stream: ResumableStream) {
    return stream;
  }

  @Sse('plain/:id')
  @UseGuards(StreamGuard)
  plain(@Param('id') id: string, @LastEventId() lastEventId: string | undefined, @Req() request: object) {
    return this.registry.observe(id, lastEventId, { request });
  }

  @Get('response/:id')
  @StreamResponse()
  response(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.locate(id, lastEventId);
  }

  @Get('ui/:id')
  @StreamResponse({ format: 'ui-message-stream' })
  ui(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.locate(id, lastEventId);
  }

  /** Admits `:id`, then serves the stream `?to=` names: the header must say how that one resumes. */
  @ResumableSse('direct-other/:id')
  directOther(@Query('to') to: string) {
    return this.registry.get(to);
  }

  @ResumableSse('nest-other/:id', { pipeline: 'nest' })
  nestOther(@Query('to') to: string) {
    return this.registry.get(to);
  }
}

const ROUTES = ['direct', 'nest', 'plain', 'response', 'ui'] as const;

async function startApp(adapter: 'express' | 'fastify', options: StreamingModuleOptions): Promise<INestApplication> {
  @Module({ imports: [StreamingModule.forRoot(options)], controllers: [ResumeRoutes] })
  class AppModule {}
  let app: INestApplication;
  if (adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false });
  } else {
    app = await NestFactory.create(AppModule, { logger: false });
  }
  await app.listen(await freePort(), '127.0.0.1');
  return app;
}

const baseUrlOf = (app: INestApplication) =>
  `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;

/** The status and `Meridian-Resume` header a client gets, read off the head; the connection is then dropped. */
async function resumeHeader(url: string, lastEventId?: string): Promise<string> {
  const reader = new SseReader(url, lastEventId ? { 'last-event-id': lastEventId } : {});
  await reader.waitFor((r) => r.status !== 0 || r.ended, 5_000);
  reader.destroy();
  await reader.done;
  return `${reader.status} ${String(reader.headers['meridian-resume'])}`;
}

/** A UI message chunk: what every route, `ui-message-stream` included, can write. */
const chunk = (delta: string) => ({ data: { type: 'text-delta', id: 't', delta } });

const describeIfRedis = redisAvailable() ? describe : describe.skip;

describeIfRedis.each(['express', 'fastify'] as const)(
  'Meridian-Resume header (%s, two instances on Redis)',
  (adapter) => {
    let db: TestDatabase;
    let producer: INestApplication;
    let follower: INestApplication;
    let registry: StreamRegistry;
    beforeAll(async () => {
      db = await openTestDatabase('sqlite');
      const store = new TypeOrmEventStore(db.dataSource);
      const keyPrefix = uniquePrefix();
      const options = (): StreamingModuleOptions => ({
        store,
        bus: new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix }),
        heartbeatMs: 0,
        logger: false,
      });
      producer = await startApp(adapter, options());
      follower = await startApp(adapter, options());
      registry = producer.get(StreamRegistry);
    }, 30_000);
    afterAll(async () => {
      await producer?.close();
      await follower?.close();
      await db?.close();
    });

    /** A stream on the producing instance with three events the bus holds. */
    async function streamWithEvents(): Promise<ResumableStream> {
      const stream = registry.create();
      await stream.whenShared();
      for (const delta of ['a', 'b', 'c']) stream.send(chunk(delta));
      await eventually(() => stream.lastSequence === 3);
      return stream;
    }

    it('says fresh, memory, reset, bus and store on every route', async () => {
      const stream = await streamWithEvents();
      const here = baseUrlOf(producer);
      const there = baseUrlOf(follower);
      const first = `${stream.epoch}-1`;
      const otherEpoch = `${stream.epoch === 'a1' ? 'b1' : 'a1'}-1`;
      const seen: Record<string, string[]> = {};
      for (const route of ROUTES) {
        seen[route] = [
          await resumeHeader(`${here}/s/${route}/${stream.id}`),
          await resumeHeader(`${here}/s/${route}/${stream.id}`, first),
          await resumeHeader(`${here}/s/${route}/${stream.id}`, otherEpoch),
          await resumeHeader(`${there}/s/${route}/${stream.id}`, first),
          await resumeHeader(`${there}/s/${route}/${stream.id}`),
        ];
      }
      // Written to the store and dropped from memory: catch-up now comes from the store.
      await stream.persistAndClear();
      expect(stream.buffered.events).toBe(0);
      for (const route of ROUTES) seen[route].push(await resumeHeader(`${here}/s/${route}/${stream.id}`, first));
      const expected = ['200 fresh', '200 memory', '200 reset', '200 bus', '200 fresh', '200 store'];
      expect(seen).toEqual(Object.fromEntries(ROUTES.map((route) => [route, expected])));
      stream.complete();
    });

    it('says how the stream the handler serves instead of the admitted one resumes', async () => {
      const admitted = await streamWithEvents();
      const served = await streamWithEvents();
      const here = baseUrlOf(producer);
      // The Last-Event-ID is of the served stream: the admitted one would be a reset.
      const lastEventId = `${served.epoch}-2`;
      expect(
        await Promise.all(
          ['direct-other', 'nest-other'].map((route) =>
            resumeHeader(`${here}/s/${route}/${admitted.id}?to=${served.id}`, lastEventId),
          ),
        ),
      ).toEqual(['200 memory', '200 memory']);
      admitted.complete();
      served.complete();
    });
  },
);
