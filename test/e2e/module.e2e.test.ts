import 'reflect-metadata';
import net from 'node:net';
import {
  Body,
  Controller,
  Injectable,
  Module,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
  Param,
  Post,
  Sse,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventSource } from 'eventsource';
import { tap, type Observable } from 'rxjs';
import {
  LastEventId,
  ResumableSse,
  StreamGuard,
  StreamingModule,
  StreamRegistry,
  type StreamingModuleOptions,
} from 'nestjs-meridian-stream';
import { readAll, SseReader } from '../support/sse-reader.js';
import { freePort } from '../support/spawned-app.js';

@Injectable()
class FeedConfig {
  readonly streaming: StreamingModuleOptions = { heartbeatMs: 0, retryMs: 50, eventTypes: { done: 'finished' } };
}

@Module({ providers: [FeedConfig], exports: [FeedConfig] })
class ConfigModule {}

/** A feature module that does not import StreamingModule: the registry comes from isGlobal. */
@Controller('feeds')
class FeedController {
  constructor(private readonly registry: StreamRegistry) {}

  @Post(':name')
  open(@Param('name') name: string): { id: string } {
    return { id: this.registry.create(undefined, { id: name }).id };
  }

  @Post(':name/events')
  send(@Param('name') name: string, @Body() body: { type?: string; data: unknown }): { id?: string } {
    return { id: this.registry.require(name).send(body)?.id };
  }

  @Post(':name/complete')
  complete(@Param('name') name: string): { completed: boolean } {
    return { completed: this.registry.require(name).complete() };
  }

  @ResumableSse(':feedId', { param: 'feedId' })
  follow(@Param('feedId') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }

  @ResumableSse('nest/:feedId', { param: 'feedId', pipeline: 'nest' })
  followThroughNest(@Param('feedId') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }

  @Sse('plain/:id')
  @UseGuards(StreamGuard)
  plain(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }
}

/** Counts what reaches Nest's `@Sse()` pipeline, by route: events of the direct path never do. */
@Injectable()
class EmissionCounter implements NestInterceptor {
  readonly counts = new Map<string, number>();
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const { method, url } = context.switchToHttp().getRequest<{ method: string; url: string }>();
    if (method !== 'GET') return next.handle();
    // The direct path emits one `undefined` when it takes the response over: not an event.
    return next
      .handle()
      .pipe(tap((value) => value !== undefined && this.counts.set(url, (this.counts.get(url) ?? 0) + 1)));
  }
}

@Module({ controllers: [FeedController] })
class FeedModule {}

@Module({
  imports: [
    StreamingModule.forRootAsync({
      imports: [ConfigModule],
      useFactory: (config: FeedConfig) => config.streaming,
      inject: [FeedConfig],
      isGlobal: true,
    }),
    FeedModule,
  ],
})
class TestAppModule {}

describe('StreamingModule in an application of its own', () => {
  let app: INestApplication;
  let base: string;
  const counter = new EmissionCounter();
  const post = (path: string, body?: object) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });

  beforeAll(async () => {
    app = await NestFactory.create(TestAppModule, { logger: false });
    app.useGlobalInterceptors(counter);
    await app.listen(await freePort(), '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as net.AddressInfo).port}`;
  });
  afterAll(() => app.close());

  it('takes its options from forRootAsync (useFactory + inject) and is global', async () => {
    expect((await post('/feeds/config')).status).toBe(201);
    await post('/feeds/config/complete');
    const reader = await readAll(`${base}/feeds/config`);
    expect(reader.blocks[0].retry).toBe(50);
    expect(reader.events.map((event) => event.event)).toEqual(['finished']);
  });

  it('rejects a duplicate stream id with 409 and names the fix', async () => {
    await post('/feeds/twice');
    const response = await post('/feeds/twice');
    expect(response.status).toBe(409);
    expect(((await response.json()) as { message: string }).message).toMatch(/already exists.*remove\(\)/);
  });

  it('rejects types with CR, LF or NUL at send with 400, and the stream stays intact', async () => {
    await post('/feeds/hostile');
    const reader = new SseReader(`${base}/feeds/hostile`);
    for (const type of ['x\r\ndata: evil', 'a\nb', 'nul\u0000', '']) {
      const response = await post('/feeds/hostile/events', { type, data: 'payload' });
      expect([type, response.status]).toEqual([type, 400]);
      expect(((await response.json()) as { message: string }).message).toMatch(/Event type/);
    }
    expect((await post('/feeds/hostile/events', { type: 'ok', data: 'fine' })).status).toBe(201);
    await post('/feeds/hostile/complete');
    await reader.done;
    expect(reader.events.map((event) => [event.event, event.data])).toEqual([
      ['ok', 'fine'],
      ['finished', '{"status":"completed"}'],
    ]);
    expect(reader.events.every((event) => /^[0-9a-z]+-\d+$/.test(event.id!))).toBe(true);
  });

  it('delivers multi-line, unicode and NUL-containing string data intact to EventSource', async () => {
    await post('/feeds/text');
    const text = 'first line\nsecond line\r\nthird line\rfourth — ünïcödé 🚀\u0000end';
    await post('/feeds/text/events', { type: 'chunk', data: text });
    await post('/feeds/text/events', { data: { nested: { text } } });
    await post('/feeds/text/complete');
    const source = new EventSource(`${base}/feeds/text`);
    const received: string[] = [];
    await new Promise<void>((resolve) => {
      source.addEventListener('chunk', (event) => received.push(event.data));
      source.addEventListener('message', (event) => received.push(event.data));
      source.addEventListener('finished', () => resolve());
    });
    source.close();
    // The SSE spec turns every line break into LF.
    expect(received).toEqual([text.replace(/\r\n|\r/g, '\n'), JSON.stringify({ nested: { text } })]);
  });

  it('serves plain @Sse() + StreamGuard routes too: 404, resume, 204', async () => {
    expect((await fetch(`${base}/feeds/plain/missing`)).status).toBe(404);
    await post('/feeds/plain-feed');
    await post('/feeds/plain-feed/events', { data: 'a' });
    await post('/feeds/plain-feed/events', { data: 'b' });
    await post('/feeds/plain-feed/complete');
    const all = await readAll(`${base}/feeds/plain/plain-feed`);
    expect(all.events.map((event) => event.data)).toEqual(['a', 'b', '{"status":"completed"}']);
    const rest = await readAll(`${base}/feeds/plain/plain-feed`, { 'last-event-id': all.events[0].id! });
    expect(rest.events).toEqual(all.events.slice(1));
    const done = await fetch(`${base}/feeds/plain/plain-feed`, { headers: { 'last-event-id': all.events[2].id! } });
    expect(done.status).toBe(204);
  });

  it('writes the same bytes through the direct path as through Nest, without Nest seeing the events', async () => {
    await post('/feeds/both');
    for (const data of ['one', 'multi\nline\r\ntext\rend', { json: 'ünïcödé 🚀' }, '']) {
      await post('/feeds/both/events', { type: 'chunk', data });
    }
    await post('/feeds/both/complete');
    const direct = await fetch(`${base}/feeds/both`);
    const throughNest = await fetch(`${base}/feeds/nest/both`);
    expect(direct.headers.get('content-type')).toBe(throughNest.headers.get('content-type'));
    const directText = await direct.text();
    expect(directText).toBe(await throughNest.text());
    expect(directText).toContain('data: multi\ndata: line\ndata: text\ndata: end\n');
    const resumed = await fetch(`${base}/feeds/both`, {
      headers: { 'last-event-id': /id: (\S+-2)\n/.exec(directText)![1] },
    });
    const resumedThroughNest = await fetch(`${base}/feeds/nest/both`, {
      headers: { 'last-event-id': /id: (\S+-2)\n/.exec(directText)![1] },
    });
    expect(await resumed.text()).toBe(await resumedThroughNest.text());
    expect(counter.counts.get('/feeds/both') ?? 0).toBe(0);
    expect(counter.counts.get('/feeds/nest/both')).toBeGreaterThan(4);
  });

  it('answers hostile Last-Event-ID bytes with 400 and keeps serving', async () => {
    await post('/feeds/raw');
    await post('/feeds/raw/complete');
    for (const value of ['abc\u0000def', 'x'.repeat(10_000), '\u00ff\u00fe', '1-1\tX']) {
      const status = await rawRequestStatus(base, `/feeds/raw`, `Last-Event-ID: ${value}`);
      expect([value.slice(0, 10), status]).toEqual([value.slice(0, 10), 400]);
    }
    expect((await fetch(`${base}/feeds/raw`)).status).toBe(200);
  });
});

/** Sends a request with a header written byte for byte (fetch refuses such values). */
function rawRequestStatus(base: string, path: string, header: string): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n${header}\r\nConnection: close\r\n\r\n`, 'latin1'));
    });
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (match) {
        resolve(Number(match[1]));
        socket.destroy();
      }
    });
    socket.on('error', reject);
  });
}
