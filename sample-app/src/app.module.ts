import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { StreamingModule, type StreamingModuleOptions } from 'nestjs-meridian-stream';
import { StreamingMetricsModule } from 'nestjs-meridian-stream/prometheus';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { typeOrmOptions } from './database.js';
import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { PageController } from './page.controller.js';
import { ChatsController } from './streams/chats.controller.js';
import { StreamsController } from './streams/streams.controller.js';

const streams = new Logger('Streams');

/**
 * The sample app's defaults: room for 100,000 clients per stream, reconnect after 1 s, running
 * answers found by chat id, and a log line when an answer has finished (what an app would bill).
 */
export const SAMPLE_STREAMING_OPTIONS: StreamingModuleOptions = {
  maxClientsPerStream: 100_000,
  retryMs: 1_000,
  activeKeys: ['chatId'],
  onStreamFinished: ({ stream, state, result, error }) =>
    streams.log(
      `Stream ${stream.id} finished: ${state}${result === undefined ? '' : `, producer returned ${JSON.stringify(result)}`}${error === undefined ? '' : `, error: ${String(error)}`}`,
    ),
};

/** How the sample app is put together; tests change parts of it. */
export interface SampleAppConfig {
  /** `postgres://...`, `sqlite:<file>`, or undefined for the embedded SQLite file. */
  readonly databaseUrl?: string;
  /** Overrides of the sample's StreamingModule options. */
  readonly streaming?: StreamingModuleOptions;
  /** `redis://...`: share streams with other instances through Redis. */
  readonly redisUrl?: string;
  /** Redis key prefix (default `meridian:`) and producer lease (default 10 s). */
  readonly redisPrefix?: string;
  readonly leaseMs?: number;
}

@Module({})
export class AppModule {
  static forRoot(config: SampleAppConfig = {}): DynamicModule {
    // Each app its own prom-client registry, served on GET /metrics.
    const metrics = new Registry();
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot(typeOrmOptions(config.databaseUrl)),
        // The application's own TypeORM connection, found by its DataSource token.
        StreamingModule.forRootAsync({
          inject: [DataSource],
          useFactory: (dataSource: DataSource) => ({
            ...SAMPLE_STREAMING_OPTIONS,
            store: new TypeOrmEventStore(dataSource),
            bus: config.redisUrl
              ? new RedisStreamBus({
                  connection: config.redisUrl,
                  keyPrefix: config.redisPrefix,
                  leaseMs: config.leaseMs,
                })
              : undefined,
            ...config.streaming,
          }),
        }),
        StreamingMetricsModule.forRoot({ registry: metrics }),
      ],
      providers: [{ provide: Registry, useValue: metrics }],
      controllers: [StreamsController, ChatsController, HealthController, MetricsController, PageController],
    };
  }
}
