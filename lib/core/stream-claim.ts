import { StreamAlreadyExistsError } from './errors.js';
import type { EventStore } from './event-store.js';
import type { StreamBus } from './stream-bus.js';
import type { StreamHooks } from './stream-origin.js';

/**
 * The hooks of a stream created here whose id must first be claimed: its `open()` checks the
 * store (for a given id) and claims the id on the bus; until that succeeds, what the stream tells
 * the bus waits and its writes to the store wait, and once refused they never happen. So a
 * refused stream changes nothing of the stream that holds the id, wherever it is.
 */
export function claimingHooks(hooks: StreamHooks, checkStore: boolean): StreamHooks {
  const { bus, store, logger } = hooks;
  /** What the stream told the bus before its claim settled; undefined once it has. */
  let waiting: (() => void)[] | undefined = [];
  let refused = false;
  let claim: Promise<void> = Promise.resolve();
  const whenClaimed = (action: () => void) => {
    if (waiting) waiting.push(action);
    else if (!refused) action();
  };
  const storeKnows = async (streamId: string): Promise<boolean> => {
    if (!checkStore || !store) return false;
    try {
      return (await store.loadMeta(streamId)) !== undefined;
    } catch (error) {
      // The store's own append still refuses an id stored under another epoch.
      logger.warn(`Stream ${streamId}: could not look the id up in the store (${String(error)}); the bus decides.`);
      return false;
    }
  };
  const claimingBus: StreamBus = {
    open(streamId, epoch, options) {
      claim = (async () => {
        if (await storeKnows(streamId)) throw new StreamAlreadyExistsError(streamId);
        await bus?.open(streamId, epoch, options);
      })().then(
        () => {
          const actions = waiting ?? [];
          waiting = undefined;
          for (const action of actions) action();
        },
        (error: unknown) => {
          refused = true;
          waiting = undefined;
          throw error;
        },
      );
      return claim;
    },
    // A refused stream's events stay with it (it is removed at once): they are no one else's.
    append: async (streamId, events) => {
      await claim.catch(() => undefined);
      return refused || !bus ? { accepted: true } : bus.append(streamId, events);
    },
    persisted: (streamId, through) => whenClaimed(() => bus?.persisted(streamId, through)),
    close: (streamId, retentionMs) => whenClaimed(() => bus?.close(streamId, retentionMs)),
    lookup: async (streamId) => bus?.lookup(streamId),
    read: async (streamId, after, limit) => (bus ? bus.read(streamId, after, limit) : []),
    follow: (streamId, after, follower) => (bus ? bus.follow(streamId, after, follower) : () => undefined),
    control: async (streamId, message) => (bus ? bus.control(streamId, message) : false),
    shutdown: async () => undefined,
  };
  const claimingStore: EventStore | undefined = store && {
    append: async (meta, events) => {
      await claim;
      return store.append(meta, events);
    },
    readAfter: (streamId, after, limit, maxBytes) => store.readAfter(streamId, after, limit, maxBytes),
    loadMeta: (streamId) => store.loadMeta(streamId),
  };
  return { ...hooks, bus: claimingBus, store: claimingStore };
}
