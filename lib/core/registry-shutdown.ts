import type { StreamLogger } from './logger.js';
import type { RegistryShutdownOptions } from './registry-options.js';
import type { ResumableStream } from './stream.js';
import { within } from './within.js';

/** What ending a registry's streams needs from it. */
export interface EndingRegistry {
  streams(): ResumableStream[];
  readonly logger: StreamLogger;
  readonly hasStore: boolean;
  /** Resolves once no client is connected, or at the deadline. */
  whenNoClients(deadline: number): Promise<void>;
}

/**
 * A registry's shutdown, once it refuses new streams and clients: drains (with `drainMs`) or
 * cancels what runs here, lets followers' clients go elsewhere, writes what is unstored, waits up
 * to `graceMs` for clients to leave, then cuts the rest and stops every stream's timers.
 */
export async function endStreams(registry: EndingRegistry, options: RegistryShutdownOptions): Promise<void> {
  const { graceMs = 5_000, drainMs = 0 } = options;
  const { logger } = registry;
  const running = () => registry.streams().filter((stream) => !stream.isFinished && !stream.follower);
  if (drainMs > 0 && running().length > 0) {
    logger.log(`Shutting down: letting ${running().length} running stream(s) finish, for up to ${drainMs} ms.`);
    // Their clients resume on another instance, which follows the stream from the bus.
    for (const stream of registry.streams()) stream.disconnectAll('shutdown');
    await within(Promise.all(running().map((stream) => stream.whenFinished())), drainMs);
  }
  const left = running();
  if (left.length > 0) logger.log(`Shutting down: cancelling ${left.length} running stream(s).`);
  for (const stream of left) stream.cancel('shutdown');
  // Clients of streams produced elsewhere would wait here for nothing: they reconnect at once
  // to another instance, which serves them from the bus (or the store) without a gap.
  for (const stream of registry.streams()) if (stream.follower && !stream.isFinished) stream.disconnectAll('shutdown');
  const deadline = Date.now() + graceMs;
  // With a bus, a cancelled stream ends once the bus holds its final event.
  await within(Promise.all(left.map((stream) => stream.whenEnded())), deadline - Date.now());
  const flushed = registry.hasStore ? flushAll(registry, deadline) : Promise.resolve();
  await registry.whenNoClients(deadline);
  await flushed;
  for (const stream of registry.streams()) {
    stream.disconnectAll('shutdown');
    stream.dispose();
  }
}

/** Writes what each stream has not stored yet, giving up at the deadline (it is logged). */
async function flushAll(registry: EndingRegistry, deadline: number): Promise<void> {
  const writes = registry
    .streams()
    // Only what is produced here is written here; restored and followed streams are read-only.
    .filter((stream) => stream.producedHere && stream.persistedThrough < stream.lastSequence)
    .map((stream) =>
      stream.persist().catch((error: unknown) => {
        registry.logger.error(`Stream ${stream.id}: final write to the store failed at shutdown. ${String(error)}`);
      }),
    );
  await within(Promise.all(writes), deadline - Date.now());
}
