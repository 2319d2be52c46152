import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, DiscoveryModule } from '@nestjs/core';
import { StreamRegistry } from '../core/stream-registry.js';
import type { StreamingModuleOptions } from './interfaces/streaming-module-options.interface.js';
import { SseConnectionTracker } from './sse-connection-tracker.js';
import { StreamErrorFilter } from './stream-error.filter.js';
import { StreamGuard } from './stream.guard.js';
import { StreamingLifecycle } from './streaming.lifecycle.js';
import {
  ConfigurableStreamingModule,
  STREAMING_MODULE_OPTIONS,
  type STREAMING_OPTIONS_TYPE,
} from './streaming.module-definition.js';

/**
 * Provides an injectable {@link StreamRegistry}, the {@link StreamGuard} for `@Sse()` routes and a
 * clean shutdown. `StreamingModule.forRoot(options)` or
 * `StreamingModule.forRootAsync({ imports, useFactory, inject })`; `isGlobal: true` to import once.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: StreamRegistry,
      useFactory: (options: StreamingModuleOptions) => {
        const { logger, shutdownGraceMs: _grace, shutdownDrainMs: _drain, ...registryOptions } = options;
        return new StreamRegistry({
          ...registryOptions,
          logger: logger === false ? undefined : (logger ?? new Logger('StreamRegistry')),
        });
      },
      inject: [STREAMING_MODULE_OPTIONS],
    },
    SseConnectionTracker,
    StreamGuard,
    StreamingLifecycle,
    { provide: APP_FILTER, useClass: StreamErrorFilter },
  ],
  exports: [StreamRegistry, StreamGuard, SseConnectionTracker],
})
export class StreamingModule extends ConfigurableStreamingModule {
  /** Every option has a default, so `StreamingModule.forRoot()` alone is enough. */
  static override forRoot(options: typeof STREAMING_OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
