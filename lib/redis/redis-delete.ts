import type { Cluster, Redis } from 'ioredis';
import { parseDescriptor } from '../core/stream-descriptor.js';
import type { ActiveIndex } from './redis-active.js';
import { streamKeys } from './redis-keys.js';

/**
 * Deletes a stream's keys (metadata hash and events, one slot: one DEL) and the active index
 * entries that still name it, so that CLAIM finds the id free. True when the metadata was there.
 */
export async function deleteStreamKeys(
  commands: Redis | Cluster,
  prefix: string,
  active: ActiveIndex,
  streamId: string,
): Promise<boolean> {
  const keys = streamKeys(prefix, streamId);
  const descriptor = parseDescriptor(await commands.hget(keys.meta, 'descriptor'));
  const deleted = await commands.del(keys.meta, keys.events);
  await active.drop(streamId, descriptor?.active ?? []);
  return deleted > 0;
}
