import 'reflect-metadata';
import { maxHeaderSize, type IncomingMessage, type Server } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { StreamingModuleOptions } from 'nestjs-meridian-stream';
import { AppModule } from './app.module.js';
import { answerClientError, decodeUnreserved, malformedUrlAnswer, requestHeadMiddleware } from './http-input.js';

export type HttpAdapterName = 'express' | 'fastify';

export interface SampleAppOptions {
  readonly adapter?: HttpAdapterName;
  readonly logger?: false | LogLevel[];
  /** Overrides of the sample's StreamingModule options. */
  readonly streaming?: StreamingModuleOptions;
  /** `postgres://...`, `sqlite:<file>`; default: the embedded SQLite file. */
  readonly databaseUrl?: string;
  /** `redis://...` for multi-instance mode; default: none (one instance). */
  readonly redisUrl?: string;
  readonly redisPrefix?: string;
  readonly leaseMs?: number;
}

/**
 * Builds the sample application on Express (default) or Fastify, not yet listening. Both answer
 * every request alike (docs/sample-app-http.md): neither framework parses bodies (`POST /streams`
 * reads its own, see http-input.ts), and each is set to route like the other.
 */
export async function createSampleApp(options: SampleAppOptions = {}): Promise<INestApplication> {
  const logger = options.logger ?? ['log', 'warn', 'error'];
  const { databaseUrl, streaming, redisUrl, redisPrefix, leaseMs } = options;
  const module = AppModule.forRoot({ databaseUrl, streaming, redisUrl, redisPrefix, leaseMs });
  let app: INestApplication;
  if (options.adapter === 'fastify') {
    // Loaded only when asked for, so an Express user never needs Fastify installed.
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    const adapter = new FastifyAdapter({
      routerOptions: {
        // Fastify's router answers 414 for a parameter over maxParamLength (100 by default), where
        // Express routes it: a stream id too long to exist is then a 404 on both. Node refuses a
        // request head over maxHeaderSize (431) before any router sees it.
        maxParamLength: maxHeaderSize,
        // Express' defaults: "/streams/" is "/streams", and paths match whatever their case.
        ignoreTrailingSlash: true,
        caseSensitive: false,
      },
      // The router refuses a path with malformed percent-encoding before any middleware runs:
      // answered as requestHeadMiddleware answers it on Express.
      frameworkErrors: answerFrameworkError,
      clientErrorHandler: answerClientError,
    });
    app = await NestFactory.create(module, adapter, { logger, bodyParser: false });
    // Fastify parses application/json and text/plain itself, and refuses other types (415), before
    // the handler: it leaves every body unread instead, for the handler that takes one.
    const fastify = adapter.getInstance();
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    app.use(requestHeadMiddleware);
  } else {
    app = await NestFactory.create(module, { logger, bodyParser: false });
    app.use(requestHeadMiddleware);
    // Fastify's router matches the percent-decoded path ("/stream%73" is "/streams"); Express' is
    // given it with the unreserved characters decoded, which is enough for this app's paths (route
    // parameters are decoded by the router either way).
    app.use((request: IncomingMessage, _response: unknown, next: () => void) => {
      request.url = decodeUnreserved(request.url ?? '/');
      next();
    });
    (app.getHttpServer() as Server).on('clientError', answerClientError);
  }
  return app;
}

/** Fastify's `frameworkErrors`: errors of its router, before any hook or middleware runs. */
function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code !== 'FST_ERR_BAD_URL') {
    void reply.send(error);
    return;
  }
  const { status, body } = malformedUrlAnswer();
  void reply.status(status).send(body);
}
