/**
 * Bench target: this library, as a user wires it (StreamingModule + `@ResumableSse()`), with ids,
 * the replay buffer and heartbeats on; a stream per channel. Env: MERIDIAN_PIPELINE=direct|nest|
 * plain (the fast path, events through Nest's `@Sse()` pipeline, or Nest's own `@Sse()`),
 * HTTP_ADAPTER=express|fastify. `POST /persist` persists and clears the channel's stream into a
 * SQLite file, so a reconnect storm reads the database. The store (TypeORM and SQLite) is loaded
 * only when BENCH_SCENARIOS is unset or names `storm-database`: it holds about 13 MB of heap,
 * which every major garbage collection of the process marks again (25 MB of ballast made the
 * hand-written Nest route use 10% more CPU per connection), and the hand-written baselines have no
 * database to pay for. Without it `POST /persist` answers 404. Follows the server contract in
 * ./common.ts.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Controller, Get, HttpCode, Inject, Module, NotFoundException, Param, Post, Query, Sse } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  AdmittedStream,
  LastEventId,
  ResumableSse,
  StreamingModule,
  StreamRegistry,
  type EventStore,
  type ResumableStream,
} from 'nestjs-meridian-stream';
import { announceListening, Channels, parsePublishQuery, portFromEnv, serverStats } from './common.js';

/** direct: `@ResumableSse()`; nest: `@ResumableSse(path, { pipeline: 'nest' })`; plain: Nest's own `@Sse()`. */
const mode = process.env.MERIDIAN_PIPELINE ?? 'direct';
const pipeline = mode === 'nest' ? 'nest' : 'direct';

const scenarios = process.env.BENCH_SCENARIOS?.split(',');
const database = scenarios === undefined || scenarios.includes('storm-database') ? await openDatabase() : undefined;

/** The SQLite store, in a folder of its own; imported here so that a process without it never loads TypeORM. */
async function openDatabase(): Promise<{ store: EventStore; close(): Promise<void> }> {
  const { meridianStreamEntities, meridianStreamMigrations, TypeOrmEventStore } =
    await import('nestjs-meridian-stream/typeorm');
  const { DataSource } = await import('typeorm');
  const folder = mkdtempSync(path.join(os.tmpdir(), 'meridian-bench-'));
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: path.join(folder, 'events.sqlite'),
    entities: meridianStreamEntities,
    migrations: meridianStreamMigrations,
    migrationsRun: true,
  });
  await dataSource.initialize();
  return {
    store: new TypeOrmEventStore(dataSource),
    close: async () => {
      await dataSource.destroy();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** `@ResumableSse()`: the fast path (direct), or events through Nest's pipeline (nest). */
@Controller()
class ResumableSseController {
  @ResumableSse('sse/:id', { pipeline })
  follow(@AdmittedStream() stream: ResumableStream): ResumableStream {
    return stream;
  }
}

/**
 * What a user writes with Nest's own decorator: events through Nest's pipeline, unpaced. No
 * `StreamGuard`: the streams are in memory (a persisted one keeps its place in the registry and
 * reads the store itself), and without an `authorize` hook observe() answers every status itself.
 */
@Controller()
class PlainSseController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @Sse('sse/:id')
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }
}

@Controller()
class BenchController {
  private readonly channels: Channels<ResumableStream>;

  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {
    this.channels = new Channels(
      (id) => registry.create(undefined, { id, maxClientsPerStream: 100_000 }),
      (stream) => (_n, data) => stream.send({ data }),
    );
  }

  @Post('channels/:id')
  @HttpCode(204)
  open(@Param('id') id: string): void {
    this.channels.open(id);
  }

  @Post('publish')
  @HttpCode(202)
  publish(@Query() query: Record<string, unknown>): void {
    this.channels.publish(parsePublishQuery(query));
  }

  @Post('persist')
  @HttpCode(200)
  async persist(@Query('channel') channel: string): Promise<{ persisted: number; cleared: number }> {
    const stream = this.channels.get(channel);
    if (!stream) throw new NotFoundException(`no channel ${channel}`);
    if (!database) throw new NotFoundException('this process has no database (see BENCH_SCENARIOS)');
    const { persisted, cleared } = await stream.persistAndClear();
    return { persisted, cleared };
  }

  @Get('stats')
  stats(@Query('gc') gc?: string) {
    return serverStats(this.registry.stats().clients, gc === '1');
  }
}

@Module({
  imports: [
    StreamingModule.forRoot({
      store: database?.store,
      // Write only when asked (POST /persist), as the raw baseline never writes.
      persistEveryEvents: 0,
      persistEveryMs: 0,
      logger: false,
    }),
  ],
  // Only the SSE route of the mode: a route that is never used would still cost every request a look.
  controllers: [mode === 'plain' ? PlainSseController : ResumableSseController, BenchController],
})
class BenchModule {}

const app =
  process.env.HTTP_ADAPTER === 'fastify'
    ? await NestFactory.create(BenchModule, new FastifyAdapter(), { logger: ['error'] })
    : await NestFactory.create(BenchModule, { logger: ['error'] });
app.enableShutdownHooks();
await app.listen(portFromEnv(), '127.0.0.1');
announceListening(portFromEnv());
process.once('SIGTERM', () => {
  void app.close().finally(() => {
    void Promise.resolve(database?.close()).finally(() => process.exit(0));
  });
});
