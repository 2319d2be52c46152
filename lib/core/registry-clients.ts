import { StreamLimitError } from './errors.js';
import type { StreamLogger } from './logger.js';
import type { ClientEndReason } from './stream-client.js';
import type { ResumeOutcome } from './resume.js';
import type { CatchupTier, StreamMetrics } from './stream-metrics.js';

/** What a registry's clients are counted against and reported to. */
export interface RegistryClientsOptions {
  readonly maxClients: number;
  readonly metrics: StreamMetrics;
  readonly logger: StreamLogger;
}

/**
 * The clients connected to a registry's streams: the instance-wide cap, the counters, the warning
 * when one is cut for being slow, and who waits for the last one to leave (shutdown).
 */
export class RegistryClients {
  private count = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: RegistryClientsOptions) {}

  /** Throws when the instance cannot take another client (`maxClients`). */
  assertCapacity(): void {
    const { maxClients } = this.options;
    if (this.count >= maxClients) throw new StreamLimitError('maxClients', maxClients, 'This instance');
  }

  attached(tier: CatchupTier, outcome: ResumeOutcome): void {
    this.count++;
    this.options.metrics.attached(tier, outcome);
  }

  detached(streamId: string, reason: ClientEndReason, maxClientBacklogBytes: number): void {
    if (--this.count === 0) for (const done of this.waiting.splice(0)) done();
    if (reason !== 'slow') return;
    this.options.metrics.slowClientDisconnects++;
    this.options.logger.warn(
      `Stream ${streamId}: cut a client that is not keeping up (more than ${maxClientBacklogBytes} bytes of events missed while its connection was backed up, or its next event no longer buffered). It resumes with Last-Event-ID when it reconnects.`,
    );
  }

  /** Resolves once no client is connected, or at the deadline (ms since the epoch). */
  whenNone(deadline: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.waiting.push(done);
    });
  }
}
