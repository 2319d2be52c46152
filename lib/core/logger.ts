/**
 * The logging surface the core needs; a NestJS `Logger` instance satisfies it, and so does
 * `console`.
 */
export interface StreamLogger {
  /** Information, e.g. how many streams shutdown cancels. */
  log(message: string): void;
  /** Something to look at, e.g. a client cut for being too slow. */
  warn(message: string): void;
  /** A failure, e.g. a producer's error or a failed write to the store, with its stack. */
  error(message: string, stack?: string): void;
  /** Details, e.g. a producer error after its stream had finished. */
  debug?(message: string): void;
}

/** A logger that drops everything, for a registry created without one. */
export const SILENT_LOGGER: StreamLogger = { log() {}, warn() {}, error() {} };
