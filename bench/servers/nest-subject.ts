/**
 * Baseline: NestJS as a typical user writes SSE by hand: a shared RxJS Subject per channel in a
 * service, and an `@Sse()` handler returning it mapped to MessageEvent { id, data }. Nest serialises `data`
 * (JSON.stringify) for each client and runs an Observable pipeline per connection. No replay:
 * Last-Event-ID is ignored. env HTTP_ADAPTER=express (default) | fastify.
 * Follows the contract in ./common.ts.
 *
 * tsx (esbuild) compiles the decorators but emits no design:paramtypes metadata, so the one
 * constructor dependency names its token with @Inject.
 */
import 'reflect-metadata';
import type { IncomingMessage } from 'node:http';
import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Param,
  Post,
  Query,
  Req,
  Sse,
  type MessageEvent,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { map, Subject, type Observable } from 'rxjs';
import {
  announceListening,
  Channels,
  parsePublishQuery,
  portFromEnv,
  serverStats,
  type ServerStats,
} from './common.js';

interface BenchEvent {
  n: number;
  t: number;
  p: string;
}

@Injectable()
class BenchEvents {
  connections = 0;
  // Parsed once per event (not per client): a Nest user's Subject carries objects, not JSON text.
  readonly channels = new Channels<Subject<BenchEvent>>(
    () => new Subject<BenchEvent>(),
    (subject) => (_n, data) => subject.next(JSON.parse(data) as BenchEvent),
  );
}

@Controller()
class BenchController {
  constructor(@Inject(BenchEvents) private readonly bench: BenchEvents) {}

  @Sse('sse/:channel')
  follow(
    @Param('channel') channel: string,
    @Req() request: IncomingMessage | { raw: IncomingMessage },
  ): Observable<MessageEvent> {
    const events = this.bench.channels.open(channel);
    // Counted at the socket (Express hands over the IncomingMessage, Fastify wraps it in .raw).
    const socket = ('raw' in request ? request.raw : request).socket;
    this.bench.connections++;
    socket.once('close', () => this.bench.connections--);
    return events.pipe(map((event) => ({ id: String(event.n), data: event })));
  }

  @Post('channels/:channel')
  @HttpCode(204)
  open(@Param('channel') channel: string): void {
    this.bench.channels.open(channel);
  }

  @Post('publish')
  @HttpCode(202)
  publish(@Query() query: Record<string, string>): void {
    this.bench.channels.publish(parsePublishQuery(query));
  }

  @Get('stats')
  stats(@Query('gc') gc?: string): ServerStats {
    return serverStats(this.bench.connections, gc === '1');
  }
}

@Module({ controllers: [BenchController], providers: [BenchEvents] })
class BenchModule {}

const adapter = process.env.HTTP_ADAPTER ?? 'express';
if (adapter !== 'express' && adapter !== 'fastify') throw new Error(`HTTP_ADAPTER must be express or fastify`);
const app =
  adapter === 'fastify'
    ? await NestFactory.create(BenchModule, new FastifyAdapter(), { logger: ['error'] })
    : await NestFactory.create(BenchModule, { logger: ['error'] });
const port = portFromEnv();
await app.listen(port, '127.0.0.1');
announceListening(port);
