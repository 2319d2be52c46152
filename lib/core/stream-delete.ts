import { InvalidStreamInputError, StreamNotFoundError } from './errors.js';
import type { EventStore } from './event-store.js';
import type { StreamLogger } from './logger.js';
import { STREAM_ID_PATTERN } from './registry-options.js';
import { cancelStream, type CancellingRegistry } from './stream-cancel.js';
import { isFinishedState } from './stream-event.js';
import { within } from './within.js';

/** How long a delete waits for a cancelled stream's last write to the store. */
const FINAL_WRITE_WAIT_MS = 5_000;

/** What `registry.delete()` deleted. */
export interface StreamDeletion {
  /** Whether this registry held the stream in memory (its clients were ended). */
  readonly memory: boolean;
  /** Whether the stream was running and was cancelled first. */
  readonly cancelled: boolean;
  /** Events deleted from the store; undefined without a store, or when it cannot delete (`deleteStream`). */
  readonly storedEvents?: number;
  /** Whether the store held the stream; undefined as for `storedEvents`. */
  readonly stored?: boolean;
  /** Whether the bus held the stream; undefined without a bus, or when it cannot delete (`delete`). */
  readonly bus?: boolean;
}

/** What deleting needs from its registry. */
export interface DeletingRegistry extends CancellingRegistry {
  readonly store: EventStore | undefined;
  readonly logger: StreamLogger;
  remove(id: string): boolean;
}

/**
 * Deletes a stream everywhere: cancels it if it runs (here, or through the bus on its instance),
 * waits for its last write, ends its clients here and drops it from memory, then deletes its rows
 * from the store (one transaction) and its keys from the bus, so its id can be created again.
 */
export async function deleteStream(registry: DeletingRegistry, id: string): Promise<StreamDeletion> {
  if (typeof id !== 'string' || !STREAM_ID_PATTERN.test(id)) {
    throw new InvalidStreamInputError('A stream id must be 1 to 128 characters of A-Z, a-z, 0-9, "_" and "-".');
  }
  const { store, bus, logger } = registry;
  const cancelled = await cancelIfRunning(registry, id);
  const held = registry.get(id);
  if (held?.producedHere && store) {
    // The final write runs after the cancel: wait for it, so it cannot bring rows back afterwards.
    await within(
      held.persist().catch(() => undefined),
      FINAL_WRITE_WAIT_MS,
    );
  }
  const memory = registry.remove(id);
  let deletion: StreamDeletion = { memory, cancelled };
  if (store?.deleteStream) {
    const deleted = await store.deleteStream(id);
    deletion = { ...deletion, stored: deleted.streamIds.length > 0, storedEvents: deleted.events };
  } else if (store) {
    logger.warn(
      `Stream ${id}: deleted from memory and the bus only: the store has no deleteStream() method, its rows stay.`,
    );
  }
  if (bus?.delete) deletion = { ...deletion, bus: await bus.delete(id) };
  else if (bus) logger.warn(`Stream ${id}: the bus has no delete() method: its keys stay until they expire.`);
  return deletion;
}

/** Cancels the stream where it runs; true when it was running. */
async function cancelIfRunning(registry: DeletingRegistry, id: string): Promise<boolean> {
  const held = registry.get(id);
  const runningHere = held !== undefined && !held.follower && !held.isFinished;
  const info = runningHere || !registry.bus ? undefined : await registry.bus.lookup(id);
  if (!runningHere && !(info && !isFinishedState(info.status))) return false;
  await cancelStream(registry, id, 'deleted').catch((error: unknown) => {
    if (!(error instanceof StreamNotFoundError)) throw error;
  });
  return true;
}
