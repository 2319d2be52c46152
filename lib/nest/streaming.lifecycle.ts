import { Server } from 'node:net';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { DiscoveryService, HttpAdapterHost } from '@nestjs/core';
import type { StreamLogger } from '../core/logger.js';
import { StreamRegistry } from '../core/stream-registry.js';
import type { StreamingModuleOptions } from './interfaces/streaming-module-options.interface.js';
import { SseConnectionTracker } from './sse-connection-tracker.js';
import { findUnguardedStreamRoutes } from './unguarded-stream-routes.js';
import { DEFAULT_SHUTDOWN_GRACE_MS } from './streaming.constants.js';
import { STREAMING_MODULE_OPTIONS } from './streaming.module-definition.js';

/**
 * Makes `app.close()` end promptly: before Nest closes the HTTP server (which waits for open
 * responses), running streams are cancelled and what they have not stored yet is written, so
 * every client gets its final event and its response ends; responses still open after the grace
 * period are cut, on every route (`SseConnectionTracker`). At start-up, checks the store and the
 * bus, and warns about `@Sse()` routes that lack `StreamGuard` where the options need it.
 */
@Injectable()
export class StreamingLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly registry: StreamRegistry,
    private readonly connections: SseConnectionTracker,
    @Inject(STREAMING_MODULE_OPTIONS) private readonly options: StreamingModuleOptions,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
  ) {}

  /** Fails start-up, with a message that names the fix, when the configured store is unusable. */
  async onModuleInit(): Promise<void> {
    await this.options.store?.check?.();
    await this.options.bus?.check?.();
  }

  /**
   * Watches the connections of Nest's HTTP server, which exists once the application does, and
   * warns about `@Sse()` routes without `StreamGuard` where the options need it.
   */
  onApplicationBootstrap(): void {
    // None in an application context without HTTP (`NestFactory.createApplicationContext()`).
    const server: unknown = this.adapterHost.httpAdapter?.getHttpServer();
    if (server instanceof Server) this.connections.watch(server);
    this.warnAboutUnguardedRoutes();
  }

  private warnAboutUnguardedRoutes(): void {
    const { authorize, store, bus } = this.options;
    const needs = [authorize && '`authorize`', store && 'a store', bus && 'a bus'].filter(Boolean);
    if (needs.length === 0) return;
    const routes = findUnguardedStreamRoutes(this.discovery.getControllers());
    if (routes.length === 0) return;
    this.logger?.warn(
      `${routes.join(', ')}: @Sse() route(s) reading @LastEventId() without StreamGuard, while ${needs.join(' and ')} ` +
        "is configured. Without the guard, authorize is never asked, and a stream not in this instance's memory " +
        'is answered 404 instead of being brought back from the store or followed through the bus. ' +
        'Add @UseGuards(StreamGuard), or use @ResumableSse().',
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    const graceMs = this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    const drainMs = this.options.shutdownDrainMs ?? 0;
    const deadline = Date.now() + drainMs + graceMs;
    await this.registry.shutdown({ graceMs, drainMs });
    const cut = await this.connections.closeAll(Math.max(0, deadline - Date.now()));
    if (cut > 0) {
      this.logger?.warn(`Cut ${cut} SSE connection(s) still open after the ${graceMs} ms shutdown grace period.`);
    }
  }

  private get logger(): StreamLogger | undefined {
    return this.options.logger === false ? undefined : (this.options.logger ?? new Logger('StreamingModule'));
  }
}
