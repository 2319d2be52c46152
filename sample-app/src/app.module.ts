import { Module, type DynamicModule } from '@nestjs/common';
import { StreamingModule, type StreamingModuleOptions } from 'nestjs-meridian-stream';
import { HealthController } from './health.controller.js';
import { StreamsController } from './streams/streams.controller.js';

/** The sample app's defaults: room for 100,000 clients per stream, reconnect after 1 s. */
export const SAMPLE_STREAMING_OPTIONS: StreamingModuleOptions = {
  maxClientsPerStream: 100_000,
  retryMs: 1_000,
};

@Module({})
export class AppModule {
  /** `overrides` replace the sample defaults (tests shorten heartbeats and retention this way). */
  static forRoot(overrides: StreamingModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [StreamingModule.forRoot({ ...SAMPLE_STREAMING_OPTIONS, ...overrides })],
      controllers: [StreamsController, HealthController],
    };
  }
}
