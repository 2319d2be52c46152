import type { StreamLogger } from '../../core/logger.js';
import type { StreamRegistryOptions } from '../../core/stream-registry.js';

/** Options of `StreamingModule.forRoot()` / `forRootAsync()`. Every field is optional. */
export interface StreamingModuleOptions extends Omit<StreamRegistryOptions, 'logger'> {
  /**
   * How long `app.close()` waits (ms) for SSE responses to end after their streams were cancelled,
   * before it cuts the remaining connections. Default 5000.
   */
  readonly shutdownGraceMs?: number;
  /**
   * With a bus, how long `app.close()` lets running producers finish (ms): new streams are refused,
   * this instance's clients are let go at once (they resume on another instance), and what still
   * runs afterwards is cancelled. For rolling deploys. Default 0: cancel at once.
   */
  readonly shutdownDrainMs?: number;
  /** A logger of your own, or false for none. Default: a NestJS `Logger` with context `StreamRegistry`. */
  readonly logger?: StreamLogger | false;
}
