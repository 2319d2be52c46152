/**
 * The logging surface the core needs; a NestJS `Logger` instance satisfies it, and so does
 * `console`.
 */
export interface StreamLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
}

/** A logger that drops everything, for a registry created without one. */
export const SILENT_LOGGER: StreamLogger = { log() {}, warn() {}, error() {} };
