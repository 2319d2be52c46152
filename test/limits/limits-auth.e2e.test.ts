import 'reflect-metadata';
import net from 'node:net';
import { Controller, Headers, Inject, Module, Param, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  AdmittedStream,
  ResumableSse,
  ResumableStream,
  StreamingModule,
  StreamRegistry,
  type StreamingModuleOptions,
} from 'nestjs-meridian-stream';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { readAll, SseReader } from '../support/sse-reader.js';
import { eventually } from '../support/eventually.js';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { freePort } from '../support/spawned-app.js';

type Request = { headers: Record<string, string | undefined> };

/** Reads until `count` events arrived, then drops the connection. */
async function readUntil(url: string, headers: Record<string, string>, count: number): Promise<SseReader> {
  const reader = new SseReader(url, headers);
  await reader.waitFor((r) => r.events.length >= count);
  reader.destroy();
  return reader;
}

/** Streams owned by the user named in `x-user` (standing in for what an auth guard puts in request.user). */
@Controller('rooms')
class RoomController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @Post(':name')
  open(@Param('name') name: string, @Headers('x-user') owner: string): { id: string } {
    const stream = this.registry.create(undefined, {
      id: name,
      maxClientsPerStream: 2,
      authorize: (request) => (request as Request).headers['x-user'] === owner,
    });
    return { id: stream.id };
  }

  @Post(':name/send')
  send(@Param('name') name: string): { id?: string } {
    return { id: this.registry.require(name).send({ data: 'x'.repeat(10) })?.id };
  }

  @ResumableSse(':id')
  follow(@AdmittedStream() stream: ResumableStream): ResumableStream {
    return stream;
  }
}

describe('limits and authorization over HTTP', () => {
  let app: INestApplication;
  let base: string;
  let db: TestDatabase;
  let registry: StreamRegistry;
  const post = (path: string, user = 'alice') =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'x-user': user } });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });

  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    const options: StreamingModuleOptions = {
      store: new TypeOrmEventStore(db.dataSource),
      heartbeatMs: 0,
      maxClients: 3,
      // Module-wide rule: mallory never subscribes, whatever the stream.
      authorize: (request) => (request as Request).headers['x-user'] !== 'mallory',
      logger: false,
    };
    @Module({ imports: [StreamingModule.forRoot(options)], controllers: [RoomController] })
    class LimitsModule {}
    app = await NestFactory.create(LimitsModule, { logger: ['error'], abortOnError: false });
    await app.listen(await freePort(), '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as net.AddressInfo).port}`;
    registry = app.get(StreamRegistry);
  });
  afterAll(async () => {
    await app.close();
    await db.close();
  });

  it('answers a refused subscribe exactly like an unknown stream (404), even with a bad or final Last-Event-ID', async () => {
    await post('/rooms/secret');
    await post('/rooms/secret/send');
    const allowed = await readUntil(`${base}/rooms/secret`, { 'x-user': 'alice' }, 1);
    expect(allowed.events).toHaveLength(1);
    const probes: Record<string, string>[] = [
      {},
      { 'x-user': 'bob' },
      { 'x-user': 'bob', 'last-event-id': 'garbage' },
      { 'x-user': 'bob', 'last-event-id': allowed.events[0].id! },
      { 'x-user': 'mallory' },
    ];
    for (const headers of probes) {
      const refused = await get('/rooms/secret', headers);
      const unknown = await get('/rooms/secreT', headers);
      expect([headers, refused.status]).toEqual([headers, 404]);
      expect(await refused.text()).toBe((await unknown.text()).replace('secreT', 'secret'));
    }
  });

  it('applies the module-wide authorize to a stream brought back from the store', async () => {
    await post('/rooms/stored', 'mallory');
    await post('/rooms/stored/send', 'mallory');
    const stream = registry.require('stored');
    stream.complete();
    await stream.persist();
    registry.remove('stored');
    expect(registry.has('stored')).toBe(false);
    // Back from the store: its own hook is gone, the module-wide one still refuses mallory.
    expect((await get('/rooms/stored', { 'x-user': 'mallory' })).status).toBe(404);
    expect(registry.has('stored')).toBe(true);
    const bob = await readAll(`${base}/rooms/stored`, { 'x-user': 'bob' });
    expect(bob.events.map((event) => event.event)).toEqual(['message', 'done']);
  });

  it('answers 503 with Retry-After past maxClientsPerStream and maxClients, and lets clients in again after', async () => {
    await post('/rooms/busy');
    await post('/rooms/other');
    const readers = [new SseReader(`${base}/rooms/busy`, { 'x-user': 'alice' })];
    readers.push(new SseReader(`${base}/rooms/busy`, { 'x-user': 'alice' }));
    await eventually(() => registry.require('busy').clientCount === 2);
    const perStream = await get('/rooms/busy', { 'x-user': 'alice' });
    expect(perStream.status).toBe(503);
    expect(perStream.headers.get('retry-after')).toBe('1');
    expect(((await perStream.json()) as { message: string }).message).toMatch(/maxClientsPerStream \(2\)/);

    readers.push(new SseReader(`${base}/rooms/other`, { 'x-user': 'alice' }));
    await eventually(() => registry.stats().clients === 3);
    const perInstance = await get('/rooms/other', { 'x-user': 'alice' });
    expect(perInstance.status).toBe(503);
    expect(perInstance.headers.get('retry-after')).toBe('1');
    expect(((await perInstance.json()) as { message: string }).message).toMatch(/maxClients \(3\).*raise maxClients/);

    readers.pop()!.destroy();
    await eventually(() => registry.stats().clients === 2);
    const again = new SseReader(`${base}/rooms/other`, { 'x-user': 'alice' });
    await eventually(() => registry.stats().clients === 3);
    for (const reader of [...readers, again]) reader.destroy();
    await eventually(() => registry.stats().clients === 0);
  });

  it('counts catch-up by tier, events, and streams located in the store', async () => {
    const before = registry.stats();
    await post('/rooms/tiers');
    const stream: ResumableStream = registry.require('tiers');
    for (let i = 0; i < 4; i++) stream.send({ data: i });
    const headers = { 'x-user': 'alice' };
    await readUntil(`${base}/rooms/tiers`, headers, 4); // buffer (from the start)
    await readUntil(`${base}/rooms/tiers`, { ...headers, 'last-event-id': `${stream.epoch}-2` }, 2); // buffer
    await stream.persistAndClear();
    await readUntil(`${base}/rooms/tiers`, { ...headers, 'last-event-id': `${stream.epoch}-1` }, 3); // store
    await readUntil(`${base}/rooms/tiers`, { ...headers, 'last-event-id': 'aaaaaaaaaaaa-1' }, 4); // reset
    const live = new SseReader(`${base}/rooms/tiers`, { ...headers, 'last-event-id': `${stream.epoch}-4` }); // live
    await eventually(() => registry.stats().catchup.live - before.catchup.live === 1);
    live.destroy();
    const after = registry.stats();
    expect(after.catchup.buffer - before.catchup.buffer).toBe(2);
    expect(after.catchup.store - before.catchup.store).toBe(1);
    expect(after.catchup.reset - before.catchup.reset).toBe(1);
    expect(after.clientsAttached - before.clientsAttached).toBe(5);
    expect(after.eventsTotal - before.eventsTotal).toBe(4);
    expect(after.bytesTotal - before.bytesTotal).toBe(4);
    expect(after.located.store - before.located.store).toBe(0);
  });
});
