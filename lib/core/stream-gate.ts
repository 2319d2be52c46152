import type { StreamLogger } from './logger.js';
import type { StreamAdmission, StreamAuthorizer } from './registry-options.js';
import type { ResumableStream } from './stream.js';

/**
 * Who may subscribe to what: the registry's `authorize` and each stream's own, and the requests
 * `admit()` let in to streams they guard, for `observe(id, lastEventId, { request })`.
 */
export class StreamGate {
  /** Per-stream `authorize` hooks, for the streams created here. */
  private readonly authorizers = new WeakMap<ResumableStream, StreamAuthorizer>();
  /** Requests let in to a stream with `authorize`; each is used once. */
  private readonly admitted = new WeakMap<object, StreamAdmission>();
  private warnedNotAdmitted = false;
  private warnedNotLocated = false;

  constructor(
    private readonly authorize: StreamAuthorizer | undefined,
    private readonly logger: StreamLogger,
  ) {}

  /** Gives a stream created here its own `authorize`. */
  guard(stream: ResumableStream, authorize: StreamAuthorizer): void {
    this.authorizers.set(stream, authorize);
  }

  /** Notes that `request` was let in, where a hook guards the stream. */
  record(request: object, admission: StreamAdmission): void {
    if (this.hasAuthorization(admission.stream)) this.admitted.set(request, admission);
  }

  /** What `request` was let in to, once; undefined when it was not. */
  take(request: object | undefined): StreamAdmission | undefined {
    if (!request) return undefined;
    const admission = this.admitted.get(request);
    this.admitted.delete(request);
    return admission;
  }

  /**
   * Whether `request` may subscribe to `stream`: the registry's `authorize` and the stream's own
   * (where it was created) must both answer exactly `true`, so a hook that returns a truthy
   * object by mistake lets nobody in. Without hooks, anyone with the id may.
   */
  async isAuthorized(request: unknown, stream: ResumableStream): Promise<boolean> {
    if (!this.hasAuthorization(stream)) return true;
    const own = this.authorizers.get(stream);
    if (this.authorize && (await this.authorize(request, stream)) !== true) return false;
    return !own || (await own(request, stream)) === true;
  }

  /** Whether an `authorize` hook (the registry's or the stream's own) decides who may subscribe. */
  hasAuthorization(stream: ResumableStream): boolean {
    return this.authorize !== undefined || this.authorizers.has(stream);
  }

  /** Once: `observe()` of a stream with `authorize` for a request that `admit()` did not let in. */
  warnNotAdmitted(id: string): void {
    if (this.warnedNotAdmitted) return;
    this.warnedNotAdmitted = true;
    this.logger.warn(
      `observe(${JSON.stringify(id.slice(0, 80))}): refused (404), as authorize is configured and this request was not let in by StreamGuard. ` +
        'Use @ResumableSse(), or put @UseGuards(StreamGuard) on the route and pass { request } to observe().',
    );
  }

  /**
   * Once: a stream missing from memory might have been in the store or on the bus, which only
   * `locate()` looks in; `StreamGuard` calls it, so the route likely lacks the guard. Once, as
   * clients can ask for any id.
   */
  warnNotLocated(id: string): void {
    if (this.warnedNotLocated) return;
    this.warnedNotLocated = true;
    this.logger.warn(
      `observe(${JSON.stringify(id.slice(0, 80))}): no such stream in memory, and observe() does not look in the store or on the bus. ` +
        'Put @UseGuards(StreamGuard) on the @Sse() route (or use @ResumableSse()), or await registry.locate(id) first.',
    );
  }
}
