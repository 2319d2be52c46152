import { Logger, Module } from '@nestjs/common';
import { StreamRegistry } from '../core/stream-registry.js';
import type { StreamingModuleOptions } from './interfaces/streaming-module-options.interface.js';
import { SseConnectionTracker } from './sse-connection-tracker.js';
import { StreamGuard } from './stream.guard.js';
import { StreamingLifecycle } from './streaming.lifecycle.js';
import { ConfigurableStreamingModule, STREAMING_MODULE_OPTIONS } from './streaming.module-definition.js';

/**
 * Provides an injectable {@link StreamRegistry}, the {@link StreamGuard} for `@Sse()` routes and a
 * clean shutdown. `StreamingModule.forRoot(options)` or
 * `StreamingModule.forRootAsync({ imports, useFactory, inject })`; `isGlobal: true` to import once.
 */
@Module({
  providers: [
    {
      provide: StreamRegistry,
      useFactory: (options: StreamingModuleOptions) => {
        const { logger, shutdownGraceMs: _grace, ...registryOptions } = options;
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
  ],
  exports: [StreamRegistry, StreamGuard, SseConnectionTracker],
})
export class StreamingModule extends ConfigurableStreamingModule {}
