import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { StreamingModuleOptions } from './interfaces/streaming-module-options.interface.js';

/** Builds `forRoot()` / `forRootAsync()` and the options token, the way `@nestjs/cache-manager` does. */
export const {
  ConfigurableModuleClass: ConfigurableStreamingModule,
  /** Injection token of the {@link StreamingModuleOptions} given to `forRoot()` / `forRootAsync()`. */
  MODULE_OPTIONS_TOKEN: STREAMING_MODULE_OPTIONS,
  OPTIONS_TYPE: STREAMING_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: STREAMING_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<StreamingModuleOptions>({ moduleName: 'Streaming' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
