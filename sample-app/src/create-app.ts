import 'reflect-metadata';
import type { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { StreamingModuleOptions } from 'nestjs-meridian-stream';
import { AppModule } from './app.module.js';

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

/** Builds the sample application on Express (default) or Fastify, not yet listening. */
export async function createSampleApp(options: SampleAppOptions = {}): Promise<INestApplication> {
  const logger = options.logger ?? ['log', 'warn', 'error'];
  const { databaseUrl, streaming, redisUrl, redisPrefix, leaseMs } = options;
  const module = AppModule.forRoot({ databaseUrl, streaming, redisUrl, redisPrefix, leaseMs });
  if (options.adapter === 'fastify') {
    // Loaded only when asked for, so an Express user never needs Fastify installed.
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    // Stream ids may be 128 characters long; Fastify's router refuses parameters over 100 by default.
    return NestFactory.create(module, new FastifyAdapter({ maxParamLength: 128 }), { logger });
  }
  return NestFactory.create(module, { logger });
}
