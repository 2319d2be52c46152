import type { EntityManager } from 'typeorm';
import type { StaleStream, StoreDeletion } from '../core/event-store.js';
import { StreamEventEntity, StreamMetaEntity } from './entities.js';

/**
 * Deletes these streams' metadata, then their events, inside the caller's transaction: a reader
 * sees a stream whole or not at all. The metadata goes first so that a condition on it (finished
 * before, still stale) decides which events go.
 */
export async function deleteStreams(
  manager: EntityManager,
  streamIds: readonly string[],
  condition?: { readonly sql: string; readonly parameters: Record<string, unknown> },
): Promise<StoreDeletion> {
  if (streamIds.length === 0) return { streamIds: [], events: 0 };
  let deleted = [...streamIds];
  if (condition) {
    // Only the rows that still meet the condition: a stream written meanwhile stays.
    const rows: { id: string }[] = await manager
      .createQueryBuilder(StreamMetaEntity, 'meta')
      .select('meta.streamId', 'id')
      .where('meta.streamId IN (:...streamIds)', { streamIds })
      .andWhere(condition.sql, condition.parameters)
      .getRawMany();
    deleted = rows.map((row) => row.id);
    if (deleted.length === 0) return { streamIds: [], events: 0 };
  }
  const metas = await manager
    .createQueryBuilder()
    .delete()
    .from(StreamMetaEntity)
    .where('stream_id IN (:...deleted)', { deleted })
    .execute();
  const events = await manager
    .createQueryBuilder()
    .delete()
    .from(StreamEventEntity)
    .where('stream_id IN (:...deleted)', { deleted })
    .execute();
  // Ids selected above exist; a single id given by the caller may not.
  return { streamIds: metas.affected === 0 ? [] : deleted, events: events.affected ?? 0 };
}

/** Events per purge transaction, about: a batch stops before the stream that would pass it (one bigger stream goes alone). */
const BATCH_EVENTS = 10_000;

/**
 * Up to `limit` ids of streams finished before `before`, oldest first (index on `finished_at`),
 * fewer when their events would pass {@link BATCH_EVENTS}: each transaction stays short.
 */
export async function finishedBefore(manager: EntityManager, before: Date, limit: number): Promise<string[]> {
  const rows: { id: string; events: string | number }[] = await manager
    .createQueryBuilder(StreamMetaEntity, 'meta')
    .select(['meta.streamId AS id', 'meta.lastSequence AS events'])
    .where('meta.finishedAt < :before', { before: before.getTime() })
    .orderBy('meta.finishedAt', 'ASC')
    .limit(limit)
    .getRawMany();
  const ids: string[] = [];
  let events = 0;
  for (const row of rows) {
    events += Number(row.events);
    if (ids.length > 0 && events > BATCH_EVENTS) break;
    ids.push(row.id);
  }
  return ids;
}

/** Streams stored as running, last written before `before`, after the cursor (index on status, updated_at). */
export async function staleStreams(
  manager: EntityManager,
  options: { readonly before: Date; readonly limit: number; readonly after?: StaleStream },
): Promise<StaleStream[]> {
  const query = manager
    .createQueryBuilder(StreamMetaEntity, 'meta')
    .select(['meta.streamId AS id', 'meta.updatedAt AS updated'])
    .where("meta.status = 'running'")
    .andWhere('meta.updatedAt < :before', { before: options.before.getTime() });
  if (options.after) {
    query.andWhere('(meta.updatedAt > :afterTime OR (meta.updatedAt = :afterTime AND meta.streamId > :afterId))', {
      afterTime: options.after.updatedAt.getTime(),
      afterId: options.after.streamId,
    });
  }
  const rows: { id: string; updated: string | number }[] = await query
    .orderBy('meta.updatedAt', 'ASC')
    .addOrderBy('meta.streamId', 'ASC')
    .limit(options.limit)
    .getRawMany();
  return rows.map((row) => ({ streamId: row.id, updatedAt: new Date(Number(row.updated)) }));
}
