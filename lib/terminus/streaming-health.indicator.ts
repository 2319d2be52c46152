import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { StreamRegistry } from '../core/stream-registry.js';

/** How long one check of the store or the bus may take before it counts as down. */
export const HEALTH_CHECK_TIMEOUT_MS = 3_000;

/**
 * A `@nestjs/terminus` health indicator for the streaming module: down when the configured store
 * or bus does not answer (each within {@link HEALTH_CHECK_TIMEOUT_MS}), up otherwise, with the
 * registry's figures (streams, clients, events per second) as details. Provide it in a module
 * that imports `TerminusModule`, and call `isHealthy()` from your `@HealthCheck()` route.
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.streaming.isHealthy()]); }
 * ```
 */
@Injectable()
export class StreamingHealthIndicator {
  constructor(
    private readonly registry: StreamRegistry,
    private readonly health: HealthIndicatorService,
  ) {}

  /**
   * Checks the store and the bus, each within {@link HEALTH_CHECK_TIMEOUT_MS}, and reports `key`
   * (default `streaming`) up or down, with the registry's figures as details.
   */
  async isHealthy<const Key extends string = 'streaming'>(
    key: Key = 'streaming' as Key,
  ): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.health.check(key);
    const { store, bus } = this.registry;
    const stats = this.registry.stats();
    const details = {
      streams: stats.streams,
      clients: stats.clients,
      eventsPerSecond: stats.eventsPerSecond,
      store: store ? 'up' : 'none',
      bus: bus ? 'up' : 'none',
    };
    try {
      if (store?.check) await withTimeout(store.check(), 'store');
    } catch (error) {
      return indicator.down({ ...details, store: 'down', message: (error as Error).message });
    }
    try {
      if (bus?.check) await withTimeout(bus.check(), 'bus');
    } catch (error) {
      return indicator.down({ ...details, bus: 'down', message: (error as Error).message });
    }
    return indicator.up(details);
  }
}

async function withTimeout(check: Promise<void>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`The ${what} did not answer within ${HEALTH_CHECK_TIMEOUT_MS} ms.`)),
      HEALTH_CHECK_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([check, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
