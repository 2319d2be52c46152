/**
 * The sample app plus one route, for the memory suites: `GET /nest-streams/:id` serves the same
 * streams as the sample's `GET /streams/:id`, but with `@ResumableSse(':id', { pipeline: 'nest' })`
 * (events through Nest's `@Sse()` Observable pipeline); the sample app has no such route.
 *
 * Everything else is the built sample app (sample-app/dist): its module (`AppModule.forRoot`:
 * TypeORM store, `StreamingModule`, `POST /streams`, `POST /streams/:id/persist`,
 * `DELETE /streams/:id`, `GET /stats?gc=1`, `GET /health`) and its streaming defaults. Run with
 * tsx and test/memory/tsconfig.app.json, so that `nestjs-meridian-stream` resolves to dist/ (the
 * package the sample app also loads) and not to lib/*.ts: tsx emits no decorator metadata.
 *
 * Env: PORT, HOST (default 127.0.0.1), HTTP_ADAPTER=express|fastify, DATABASE_URL (sqlite:<file>
 * or postgres://...).
 */
import 'reflect-metadata';
import { Controller, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AdmittedStream, ResumableSse, type ResumableStream } from 'nestjs-meridian-stream';
import type { AppModule as SampleAppModule } from '../../sample-app/src/app.module.js';

@Controller('nest-streams')
class NestPipelineStreamsController {
  @ResumableSse(':id', { pipeline: 'nest' })
  follow(@AdmittedStream() stream: ResumableStream): ResumableStream {
    return stream;
  }
}

/** The built sample app's module, loaded at run time (sample-app/dist has no type declarations). */
async function sampleModule(): Promise<DynamicModule> {
  const url = new URL('../../sample-app/dist/app.module.js', import.meta.url).href;
  const { AppModule } = (await import(url)) as { AppModule: typeof SampleAppModule };
  const module = AppModule.forRoot({ databaseUrl: process.env.DATABASE_URL || undefined });
  // The extra controller joins the sample's own module, where StreamRegistry and StreamGuard are provided.
  return { ...module, controllers: [...(module.controllers ?? []), NestPipelineStreamsController] };
}

async function main(): Promise<void> {
  const module = await sampleModule();
  const logger = ['warn' as const, 'error' as const];
  let app: INestApplication;
  // As the sample app's createSampleApp(): no body parser, POST /streams reads its own body.
  if (process.env.HTTP_ADAPTER === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    const adapter = new FastifyAdapter({ maxParamLength: 128 });
    app = await NestFactory.create(module, adapter, { logger, bodyParser: false });
    adapter.getInstance().removeAllContentTypeParsers();
    adapter.getInstance().addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  } else {
    app = await NestFactory.create(module, { logger, bodyParser: false });
  }
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, process.env.HOST ?? '127.0.0.1');
  console.log(`nest-pipeline memory app listening on ${port} (${process.env.HTTP_ADAPTER ?? 'express'})`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
