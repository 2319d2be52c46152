/**
 * The names the bus uses in Redis. A stream's keys and channels share the hash tag `{id}`, so
 * Redis Cluster keeps them in one slot and one script may touch them all; the instance index
 * has its own tag, `{index}`, and only the liveness scripts touch it.
 */
export interface StreamKeys {
  /** Hash: epoch, owner, fence, status, last sequence, persistedThrough, lost event, retentionMs. */
  readonly meta: string;
  /** Redis Stream: the events, entry id `<sequence>-0`. */
  readonly events: string;
  /** Shard channel: each append's events, and how far the stream is stored. */
  readonly eventsChannel: string;
  /** Shard channel: control messages to the producing instance. */
  readonly controlChannel: string;
}

export function streamKeys(prefix: string, streamId: string): StreamKeys {
  const base = `${prefix}{${streamId}}`;
  return {
    meta: `${base}:meta`,
    events: `${base}:events`,
    eventsChannel: `${base}:events`,
    controlChannel: `${base}:control`,
  };
}

export interface IndexKeys {
  /** Sorted set: instance id, scored by when its lease runs out (Redis' clock, ms). */
  readonly instances: string;
  /** Set: the streams an instance produces. */
  owned(instanceId: string): string;
}

export function indexKeys(prefix: string): IndexKeys {
  return {
    instances: `${prefix}{index}:instances`,
    owned: (instanceId) => `${prefix}{index}:owned:${instanceId}`,
  };
}

/**
 * String: the id of the running stream last opened with this active entry (`field=value`), for
 * `findActive()`. Tagged by the entry, so entries spread over a Cluster's slots.
 */
export function activeKey(prefix: string, entry: string): string {
  return `${prefix}{active:${entry}}`;
}

/**
 * Shard channel: answers to the control requests an instance sent (`StreamBus.request()`). Tagged
 * by the instance, so its replies do not crowd one stream's slot.
 */
export function replyChannel(prefix: string, instanceId: string): string {
  return `${prefix}{i:${instanceId}}:replies`;
}
