/**
 * docs/metrics.md's recipe as an app: `StreamingModule`, `@willsoto/nestjs-prometheus`'s
 * `PrometheusModule` (GET /metrics on prom-client's global registry) and `StreamingMetricsModule`.
 * Spawned by prometheus-recipe.e2e.test.ts under tsx with test/memory/tsconfig.app.json, so that
 * `nestjs-meridian-stream` is the built package (dist/): @willsoto/nestjs-prometheus is CommonJS
 * and requires NestJS's ES modules, which Node.js does and Jest's module runtime does not. tsx
 * emits no decorator metadata, hence `@Inject()`.
 *
 * Env: PORT, HOST (default 127.0.0.1).
 */
import 'reflect-metadata';
import { Controller, Get, Inject, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import {
  AdmittedStream,
  ResumableSse,
  StreamingModule,
  StreamRegistry,
  type ResumableStream,
} from 'nestjs-meridian-stream';
import { StreamingMetricsModule } from 'nestjs-meridian-stream/prometheus';

@Controller()
class AnswersController {
  constructor(@Inject(StreamRegistry) private readonly streams: StreamRegistry) {}

  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  /** A stream of five tokens, then `done`. */
  @Post('answers')
  ask(): { id: string } {
    const stream = this.streams.create(async ({ send }) => {
      for (const text of ['The', ' answer', ' is', ' 42', '.']) send({ type: 'token', data: { text } });
    });
    return { id: stream.id };
  }

  @ResumableSse('answers/:id')
  follow(@AdmittedStream() stream: ResumableStream): ResumableStream {
    return stream;
  }
}

@Module({
  imports: [
    StreamingModule.forRoot({ heartbeatMs: 0 }),
    PrometheusModule.register(), // GET /metrics, plus Node's process metrics
    StreamingMetricsModule.forRoot(), // the meridian_stream_* metrics on the same registry
  ],
  controllers: [AnswersController],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: ['warn', 'error'] });
app.enableShutdownHooks();
await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
