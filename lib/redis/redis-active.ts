import type { Cluster, Redis } from 'ioredis';
import type { StreamLogger } from '../core/logger.js';
import { activeKey } from './redis-keys.js';
import { DROP_ACTIVE, type ScriptRunner } from './redis-scripts.js';

/**
 * The index behind `findActive()`: one string key per active entry (`field=value`) naming the
 * stream last opened with it, set once the stream is claimed and dropped when it closes. Each key
 * has its own hash tag (an entry is not one stream's), so it is written beside the claim, not in
 * its script; it expires like every key the bus writes, so an instance that dies leaves nothing
 * for ever, and the registry checks the stream itself before it answers.
 */
export class ActiveIndex {
  constructor(
    private readonly prefix: string,
    private readonly commands: Redis | Cluster,
    private readonly scripts: ScriptRunner,
    private readonly logger: StreamLogger,
  ) {}

  /** Points each entry at the stream for `ttlMs`. One command per key: they may be on different Cluster nodes. */
  async set(streamId: string, entries: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(entries.map((entry) => this.commands.set(activeKey(this.prefix, entry), streamId, 'PX', ttlMs)));
  }

  /** Keeps the entries of a running stream alive (GT: never shortens a TTL). */
  refresh(streamId: string, entries: readonly string[], ttlMs: number): void {
    for (const entry of entries) {
      this.commands
        .pexpire(activeKey(this.prefix, entry), ttlMs, 'GT')
        .catch((error: Error) =>
          this.logger.warn(`Stream ${streamId}: refreshing its active index failed: ${error.message}`),
        );
    }
  }

  /** The stream finished: drops the entries that still name it (a newer stream may hold one). */
  async drop(streamId: string, entries: readonly string[]): Promise<void> {
    await Promise.all(
      entries.map((entry) =>
        this.scripts
          .run(DROP_ACTIVE, [activeKey(this.prefix, entry)], [streamId])
          .catch((error: Error) =>
            this.logger.warn(`Stream ${streamId}: dropping its active index failed (it expires): ${error.message}`),
          ),
      ),
    );
  }

  /** The id the entry names, or undefined. */
  async find(entry: string): Promise<string | undefined> {
    return (await this.commands.get(activeKey(this.prefix, entry))) ?? undefined;
  }
}
