/**
 * Bench target: this library, as a user wires it (StreamingModule + `@ResumableSse()`), with ids,
 * the replay buffer and heartbeats on. Env: MERIDIAN_PIPELINE=direct|nest (the fast path, or
 * events through Nest's `@Sse()` pipeline), HTTP_ADAPTER=express|fastify. `POST /persist`
 * persists and clears the stream into a SQLite file, so a reconnect storm reads the database.
 * Follows the server contract in ./common.ts.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Controller, Get, HttpCode, Inject, Module, Param, Post, Query, Sse, UseGuards } from '@nestjs/common';
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
import { announceListening, createProducer, parsePublishQuery, portFromEnv, serverStats } from './common.js';

/** direct: `@ResumableSse()`; nest: `@ResumableSse(path, { pipeline: 'nest' })`; plain: `@Sse()` + `StreamGuard`. */
const mode = process.env.MERIDIAN_PIPELINE ?? 'direct';
const pipeline = mode === 'nest' ? 'nest' : 'direct';
const STREAM_ID = 'bench';

const folder = mkdtempSync(path.join(os.tmpdir(), 'meridian-bench-'));
const dataSource = new DataSource({
  type: 'better-sqlite3',
  database: path.join(folder, 'events.sqlite'),
  entities: meridianStreamEntities,
  migrations: meridianStreamMigrations,
  migrationsRun: true,
});
await dataSource.initialize();

@Controller()
class BenchController {
  private readonly stream: ResumableStream;
  private readonly producer: ReturnType<typeof createProducer>;

  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {
    this.stream = registry.create(undefined, { id: STREAM_ID, maxClientsPerStream: 100_000 });
    this.producer = createProducer((_n, data) => this.stream.send({ data }));
  }

  @ResumableSse(mode === 'plain' ? 'unused/:id' : 'sse/:id', { pipeline })
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }

  /** What a user writes with Nest's own decorator: events through Nest's pipeline, unpaced. */
  @Sse(mode === 'plain' ? 'sse/:id' : 'unused-plain/:id')
  @UseGuards(StreamGuard)
  followPlain(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }

  @Post('publish')
  @HttpCode(202)
  publish(@Query() query: Record<string, unknown>): void {
    this.producer.publish(parsePublishQuery(query));
  }

  @Post('persist')
  @HttpCode(200)
  async persist(): Promise<{ persisted: number; cleared: number }> {
    const { persisted, cleared } = await this.stream.persistAndClear();
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
  controllers: [BenchController],
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
