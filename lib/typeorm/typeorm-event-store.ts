import type { DataSource, EntityManager } from 'typeorm';
import { StreamAlreadyExistsError } from '../core/errors.js';
import type { EventStore, StaleStream, StoreDeletion, StoredEvent, StoredStreamMeta } from '../core/event-store.js';
import { parseDescriptor } from '../core/stream-descriptor.js';
import type { StreamEvent, StreamState } from '../core/stream-event.js';
import { StreamEventEntity, StreamMetaEntity, STREAMS_TABLE, type StreamEventRow } from './entities.js';
import { deleteStreams, finishedBefore, staleStreams } from './store-deletion.js';

/**
 * PostgreSQL's text cannot hold NUL, which SSE data may contain: such data (and, so that decoding
 * stays exact, data that starts with the marker) is stored as the marker plus base64.
 */
const ENCODED = '\u0001';
export function encodeData(data: string): string {
  return data.includes('\0') || data.startsWith(ENCODED)
    ? ENCODED + Buffer.from(data, 'utf8').toString('base64')
    : data;
}
export function decodeData(stored: string): string {
  return stored.startsWith(ENCODED) ? Buffer.from(stored.slice(1), 'base64').toString('utf8') : stored;
}

/** The stored descriptor, when there is a readable one. */
function descriptorOf(json: string | null | undefined) {
  const descriptor = parseDescriptor(json);
  return descriptor ? { descriptor } : {};
}

/** Rows per INSERT: 6 parameters each, well under SQLite's and PostgreSQL's parameter limits. */
const INSERT_CHUNK = 100;

/** Thrown when a write does not continue the stored stream exactly: it would leave a gap or a duplicate. */
export class StoreSequenceError extends Error {
  constructor(streamId: string, storedThrough: number, firstSequence: number) {
    super(
      `Stream ${streamId}: the store holds events through ${storedThrough}, but the write starts at ${firstSequence}. Writes must continue the stored sequence exactly.`,
    );
    this.name = 'StoreSequenceError';
  }
}

/** TypeORM drivers that run every query on one connection. */
const SINGLE_CONNECTION_DRIVERS = new Set<string>([
  'better-sqlite3',
  'sqlite',
  'sqljs',
  'capacitor',
  'cordova',
  'expo',
  'nativescript',
  'react-native',
]);

/** The SQL for the size in bytes of a text column, by TypeORM driver (characters where unknown). */
function byteLength(driver: string, column: string): string {
  if (driver === 'postgres' || driver === 'cockroachdb' || driver === 'aurora-postgres')
    return `octet_length(${column})`;
  if (SINGLE_CONNECTION_DRIVERS.has(driver)) return `length(CAST(${column} AS BLOB))`;
  if (driver === 'mysql' || driver === 'mariadb' || driver === 'aurora-mysql') return `LENGTH(${column})`;
  if (driver === 'mssql') return `DATALENGTH(${column})`;
  if (driver === 'oracle') return `LENGTHB(${column})`;
  return `LENGTH(${column})`;
}

/**
 * The event store on a TypeORM `DataSource` (PostgreSQL, SQLite through better-sqlite3, or any
 * database TypeORM supports). The DataSource needs `meridianStreamEntities` among its entities
 * and the tables from `meridianStreamMigrations`.
 */
export class TypeOrmEventStore implements EventStore {
  /** Transactions of this store, one after the other, on drivers with a single connection. */
  private transactions: Promise<unknown> = Promise.resolve();
  private readonly oneConnection: boolean;

  constructor(private readonly dataSource: DataSource) {
    this.oneConnection = SINGLE_CONNECTION_DRIVERS.has(dataSource.options.type);
  }

  append(meta: StoredStreamMeta, events: readonly StreamEvent[]): Promise<void> {
    return this.inTurn(() => this.appendInTransaction(meta, events));
  }

  /** Deletes the stream's metadata and events in one transaction (with `staleBefore`, only while it is stale). */
  deleteStream(streamId: string, options: { readonly staleBefore?: Date } = {}): Promise<StoreDeletion> {
    const { staleBefore } = options;
    const condition = staleBefore && {
      sql: "meta.status = 'running' AND meta.updatedAt < :staleBefore",
      parameters: { staleBefore: staleBefore.getTime() },
    };
    return this.inTurn(() => this.dataSource.transaction((manager) => deleteStreams(manager, [streamId], condition)));
  }

  /** Deletes up to `limit` streams finished before `before`, oldest first, in one transaction. */
  purgeFinished(options: { readonly before: Date; readonly limit: number }): Promise<StoreDeletion> {
    const condition = { sql: 'meta.finishedAt < :before', parameters: { before: options.before.getTime() } };
    return this.inTurn(() =>
      this.dataSource.transaction(async (manager) => {
        const ids = await finishedBefore(manager, options.before, options.limit);
        return deleteStreams(manager, ids, condition);
      }),
    );
  }

  /** Streams stored as running, last written before `before`, oldest first. */
  listStale(options: { readonly before: Date; readonly limit: number; readonly after?: StaleStream }) {
    return staleStreams(this.dataSource.manager, options);
  }

  /**
   * SQLite has one connection: a second BEGIN inside the first would fail, and its ROLLBACK would
   * end the other's transaction. Transactions of this store take turns there.
   */
  private inTurn<T>(transaction: () => Promise<T>): Promise<T> {
    if (!this.oneConnection) return transaction();
    const turn = this.transactions.then(transaction);
    this.transactions = turn.catch(() => undefined);
    return turn;
  }

  private async appendInTransaction(meta: StoredStreamMeta, events: readonly StreamEvent[]): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const stored = await manager.findOne(StreamMetaEntity, { where: { streamId: meta.streamId } });
      if (stored && stored.epoch !== meta.epoch) throw new StreamAlreadyExistsError(meta.streamId);
      const storedThrough = stored?.lastSequence ?? 0;
      if (events.length > 0 && events[0].sequence !== storedThrough + 1) {
        throw new StoreSequenceError(meta.streamId, storedThrough, events[0].sequence);
      }
      await this.insertEvents(manager, meta, events);
      const now = Date.now();
      const lastSequence = events.at(-1)?.sequence ?? storedThrough;
      const row = {
        streamId: meta.streamId,
        epoch: meta.epoch,
        status: meta.status,
        lastSequence,
        updatedAt: now,
        finishedAt: meta.finishedAt?.getTime() ?? null,
      };
      if (stored) await manager.update(StreamMetaEntity, { streamId: meta.streamId }, row);
      else {
        // Written once, with the first row: it does not change while the stream runs.
        const descriptor = meta.descriptor ? JSON.stringify(meta.descriptor) : null;
        await manager.insert(StreamMetaEntity, { ...row, createdAt: now, descriptor });
      }
    });
  }

  async readAfter(streamId: string, afterSequence: number, limit: number, maxBytes?: number): Promise<StoredEvent[]> {
    const page = this.dataSource
      .getRepository(StreamEventEntity)
      .createQueryBuilder('event')
      .where('event.streamId = :streamId', { streamId })
      .andWhere('event.sequence > :afterSequence', { afterSequence })
      .orderBy('event.sequence', 'ASC')
      .limit(limit);
    if (maxBytes === undefined) {
      const rows = await page.getMany();
      return rows.map((row) => ({ sequence: row.sequence, type: row.type, data: decodeData(row.data) }));
    }
    // The running total of the page's bytes, in the database: rows past `maxBytes` never leave it.
    const size = byteLength(this.dataSource.options.type, 'event.data');
    page
      .select(['event.sequence AS sequence', 'event.type AS type', 'event.data AS data'])
      .addSelect(`SUM(${size}) OVER (ORDER BY event.sequence)`, 'through_bytes')
      .addSelect(size, 'own_bytes');
    const rows: { sequence: string | number; type: string; data: string }[] = await this.dataSource
      .createQueryBuilder()
      .select(['page.sequence AS sequence', 'page.type AS type', 'page.data AS data'])
      .from(`(${page.getQuery()})`, 'page')
      .where('(page.through_bytes <= :maxBytes OR page.through_bytes = page.own_bytes)', { maxBytes })
      .orderBy('page.sequence', 'ASC')
      .setParameters(page.getParameters())
      .getRawMany();
    return rows.map((row) => ({ sequence: Number(row.sequence), type: row.type, data: decodeData(row.data) }));
  }

  async loadMeta(streamId: string): Promise<StoredStreamMeta | undefined> {
    const row = await this.dataSource.manager.findOne(StreamMetaEntity, { where: { streamId } });
    if (!row) return undefined;
    return {
      streamId: row.streamId,
      epoch: row.epoch,
      status: row.status as StreamState,
      lastSequence: row.lastSequence,
      finishedAt: row.finishedAt === null ? null : new Date(row.finishedAt),
      ...descriptorOf(row.descriptor),
    };
  }

  /** Fails with a message that names the fix when the tables are missing. */
  async check(): Promise<void> {
    try {
      await this.dataSource.manager.find(StreamMetaEntity, { take: 1 });
    } catch (error) {
      throw new Error(
        `The event store cannot read table "${STREAMS_TABLE}" (${(error as Error).message}). Add meridianStreamEntities to your DataSource's entities and meridianStreamMigrations to its migrations (with migrationsRun: true), or create the tables yourself.`,
        { cause: error },
      );
    }
  }

  private async insertEvents(
    manager: EntityManager,
    meta: StoredStreamMeta,
    events: readonly StreamEvent[],
  ): Promise<void> {
    const now = Date.now();
    for (let start = 0; start < events.length; start += INSERT_CHUNK) {
      const rows: StreamEventRow[] = events.slice(start, start + INSERT_CHUNK).map((event) => ({
        streamId: meta.streamId,
        sequence: event.sequence,
        epoch: meta.epoch,
        type: event.type,
        data: encodeData(event.data),
        createdAt: now,
      }));
      await manager.insert(StreamEventEntity, rows);
    }
  }
}
