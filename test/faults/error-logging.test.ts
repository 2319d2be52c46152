import type { LoggerService } from '@nestjs/common';
import { startFaultApp, type FaultApp } from '../support/fault-app.js';

/*
 * Found while running the fault tests and the soak (issue 7, hostile input): every request the
 * library refuses with one of its typed errors (400 malformed Last-Event-ID, 404 unknown or
 * expired stream, 503 shutting down) was answered with the right status and also logged by
 * Nest's ExceptionsHandler at ERROR level with a stack trace, once per request: a client sending
 * garbage ids or probing stream ids filled the log at no cost to itself. Fixed by
 * StreamErrorFilter (lib/nest/stream-error.filter.ts, commit 9fc9d1c); this guards it.
 */

class CapturingLogger implements LoggerService {
  readonly errors: string[] = [];
  log(): void {}
  warn(): void {}
  debug(): void {}
  verbose(): void {}
  error(message: unknown): void {
    this.errors.push(String(message instanceof Error ? `${message.name}: ${message.message}` : message).split('\n')[0]);
  }
}

describe('client errors answered by the library (Nest app, real sockets)', () => {
  let server: FaultApp;
  const nestLogger = new CapturingLogger();
  beforeAll(async () => {
    server = await startFaultApp({ logger: false }, nestLogger);
  });
  afterAll(() => server.close());

  test('a burst of malformed ids and unknown streams is answered 400 / 404 without an ERROR line each', async () => {
    const stream = server.registry.create();
    stream.send({ data: 'x' });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      statuses.push((await fetch(server.url(stream.id), { headers: { 'last-event-id': `not an id #${i}` } })).status);
      statuses.push((await fetch(server.url(`no-such-stream-${i}`))).status);
    }
    expect(statuses).toEqual(Array.from({ length: 20 }, () => [400, 404]).flat());
    expect(nestLogger.errors).toEqual([]);
  });
});
