import type { StreamLogger } from '../../core/logger.js';
import type { StreamRegistryOptions } from '../../core/stream-registry.js';

/** Options of `StreamingModule.forRoot()` / `forRootAsync()`. Every field is optional. */
export interface StreamingModuleOptions extends Omit<StreamRegistryOptions, 'logger'> {
  /**
   * How long `app.close()` waits (ms) for SSE responses to end after their streams were cancelled,
   * before it cuts the remaining connections. Default 5000.
   */
  readonly shutdownGraceMs?: number;
  /** A logger of your own, or false for none. Default: a NestJS `Logger` with context `StreamRegistry`. */
  readonly logger?: StreamLogger | false;
}
