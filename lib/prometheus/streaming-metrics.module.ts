import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { StreamRegistry } from '../core/stream-registry.js';
import {
  registerStreamMetrics,
  type RegisteredStreamMetrics,
  type StreamMetricsOptions,
} from './register-stream-metrics.js';

const METRICS_OPTIONS = Symbol('meridian-stream:metrics-options');

/** Registers the metrics when the app starts and removes them when it closes. */
@Injectable()
export class StreamingMetrics implements OnModuleInit, OnModuleDestroy {
  private registered: RegisteredStreamMetrics | undefined;

  constructor(
    private readonly moduleRef: ModuleRef,
    @Inject(METRICS_OPTIONS) private readonly options: StreamMetricsOptions,
  ) {}

  onModuleInit(): void {
    // Found wherever StreamingModule was imported: this module needs no import of its own.
    const streams = this.moduleRef.get(StreamRegistry, { strict: false });
    this.registered = registerStreamMetrics(streams, this.options);
  }

  onModuleDestroy(): void {
    this.registered?.unregister();
    this.registered = undefined;
  }
}

/**
 * Registers the streaming metrics on a prom-client registry (default: the global `register`, the
 * one `@willsoto/nestjs-prometheus` serves on `/metrics`) while the app runs. Import it next to
 * `StreamingModule`:
 *
 * ```ts
 * imports: [StreamingModule.forRoot(), PrometheusModule.register(), StreamingMetricsModule.forRoot()]
 * ```
 */
@Module({})
export class StreamingMetricsModule {
  static forRoot(options: StreamMetricsOptions = {}): DynamicModule {
    return {
      module: StreamingMetricsModule,
      providers: [{ provide: METRICS_OPTIONS, useValue: options }, StreamingMetrics],
      exports: [StreamingMetrics],
    };
  }
}
