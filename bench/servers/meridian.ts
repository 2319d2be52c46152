/**
 * Bench target: this library, as a user wires it (StreamingModule + `@ResumableSse()`), with ids,
 * the replay buffer and heartbeats on; a stream per channel. Env: MERIDIAN_PIPELINE=direct|nest|
 * plain (the fast path, events through Nest's `@Sse()` pipeline, or Nest's own `@Sse()` with
 * `StreamGuard`), HTTP_ADAPTER=express|fastify. `POST /persist` persists and clears the channel's
 * stream into a SQLite file, so a reconnect storm reads the database.
 * Follows the server contract in ./common.ts.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Module,
  NotFoundException,
  Param,
  Post,
  Query,
  Sse,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  LastEventId,
  ResumableSse,
  StreamGuard,
  StreamingModule,
  StreamRegistry,
  type ResumableStream,
} from 'nestjs-meridian-stream';
import { meridianStreamEntities, meridianStreamMigrations, TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { DataSource } from 'typeorm';
import { announceListening, Channels, parsePublishQuery, portFromEnv, serverStats } from './common.js';

/** direct: `@ResumableSse()`; nest: `@ResumableSse(path, { pipeline: 'nest' })`; plain: `@Sse()` + `StreamGuard`. */
const mode = process.env.MERIDIAN_PIPELINE ?? 'direct';
const pipeline = mode === 'nest' ? 'nest' : 'direct';

const folder = mkdtempSync(path.join(os.tmpdir(), 'meridian-bench-'));
const dataSource = new DataSource({
  type: 'better-sqlite3',
  database: path.join(folder, 'events.sqlite'),
  entities: meridianStreamEntities,
  migrations: meridianStreamMigrations,
  migrationsRun: true,
});
await dataSource.initialize();

/** `@ResumableSse()`: the fast path (direct), or events through Nest's pipeline (nest). */
@Controller()
class ResumableSseController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @ResumableSse('sse/:id', { pipeline })
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }
}

/** What a user writes with Nest's own decorator: events through Nest's pipeline, unpaced. */
@Controller()
class PlainSseController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @Sse('sse/:id')
  @UseGuards(StreamGuard)
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
      store: new TypeOrmEventStore(dataSource),
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
    void dataSource.destroy();
    rmSync(folder, { recursive: true, force: true });
    process.exit(0);
  });
});
