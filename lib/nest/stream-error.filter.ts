import { Catch, Inject, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { MeridianStreamError } from '../core/errors.js';

/** Seconds a client is asked to wait (`Retry-After`) after a 503: a limit or a shutdown. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Answers the library's errors (unknown stream, bad `Last-Event-ID`, limits, ...) over HTTP with
 * their status and message, `{ statusCode, message, code }`, and `Retry-After` on 503. They are
 * what a client did or what a limit decided, not faults: Nest's default filter would log each one
 * as an error with its stack, so that any client probing ids could fill the log. Provided
 * application-wide (`APP_FILTER`) by `StreamingModule`; only `MeridianStreamError`s reach it.
 */
@Catch(MeridianStreamError)
export class StreamErrorFilter implements ExceptionFilter<MeridianStreamError> {
  private readonly logger = new Logger('StreamErrorFilter');

  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  catch(error: MeridianStreamError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const adapter = this.adapterHost.httpAdapter;
    const response: unknown = host.switchToHttp().getResponse();
    this.logger.debug?.(`${error.statusCode} ${error.code}: ${error.message}`);
    if (adapter.isHeadersSent(response)) {
      adapter.end(response);
      return;
    }
    if (error.statusCode === 503) adapter.setHeader(response, 'Retry-After', String(RETRY_AFTER_SECONDS));
    adapter.reply(
      response,
      { statusCode: error.statusCode, message: error.message, code: error.code },
      error.statusCode,
    );
  }
}
