import 'reflect-metadata';
import type net from 'node:net';
import { Controller, Get, Inject, Module, Param, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  LastEventId,
  ResumableSse,
  StreamingModule,
  StreamRegistry,
  type StreamingModuleOptions,
} from 'nestjs-meridian-stream';
import type { StreamLogger } from '../../lib/core/logger.js';
import { freePort } from './spawned-app.js';

/*
 * A small Nest application for the fault suites: StreamingModule.forRoot(options) and one
 * @ResumableSse() route, GET /streams/:id. Tests create streams (with producers of their own)
 * through the registry and follow them over real sockets.
 */

@Controller('streams')
class FaultStreamsController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @ResumableSse(':id')
  follow(@Param('id') id: string, @LastEventId() lastEventId?: string) {
    return this.registry.observe(id, lastEventId);
  }
}

@Controller()
class FaultHealthController {
  constructor(@Inject(StreamRegistry) private readonly registry: StreamRegistry) {}

  @Get('health')
  health(): { status: string; clients: number } {
    return { status: 'ok', clients: this.registry.stats().clients };
  }
}

export interface FaultApp {
  readonly app: INestApplication;
  readonly baseUrl: string;
  readonly registry: StreamRegistry;
  url(streamId: string): string;
  close(): Promise<void>;
}

export async function startFaultApp(
  options: StreamingModuleOptions = {},
  nestLogger: LoggerService | false = false,
): Promise<FaultApp> {
  @Module({
    imports: [StreamingModule.forRoot({ heartbeatMs: 0, ...options })],
    controllers: [FaultStreamsController, FaultHealthController],
  })
  class FaultAppModule {}
  const app = await NestFactory.create(FaultAppModule, { logger: nestLogger });
  await app.listen(await freePort(), '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as net.AddressInfo).port}`;
  return {
    app,
    baseUrl,
    registry: app.get(StreamRegistry),
    url: (streamId) => `${baseUrl}/streams/${streamId}`,
    close: () => app.close(),
  };
}

/** A logger that keeps what it is given, for tests that check what was reported. */
export interface CapturedLogs {
  readonly logger: StreamLogger;
  readonly errors: string[];
  readonly warnings: string[];
  readonly debug: string[];
}

export function captureLogs(): CapturedLogs {
  const errors: string[] = [];
  const warnings: string[] = [];
  const debug: string[] = [];
  return {
    errors,
    warnings,
    debug,
    logger: {
      log: () => undefined,
      warn: (message: string) => warnings.push(String(message)),
      error: (message: string, stack?: string) => errors.push(`${String(message)}${stack ? `\n${stack}` : ''}`),
      debug: (message: string) => debug.push(String(message)),
    },
  };
}

/** GET /health answers 200 (the process keeps serving). */
export async function healthy(baseUrl: string): Promise<boolean> {
  const response = await fetch(`${baseUrl}/health`).catch(() => undefined);
  return response?.status === 200;
}
