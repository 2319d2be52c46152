/**
 * `nestjs-meridian-stream/typeorm`: the durable tier on TypeORM (event store, entities,
 * migration). Needs the optional peer dependency `typeorm`.
 *
 * The implementation is reached through a dynamic `import()` after `typeorm` is found, so that an
 * app without it gets an error naming the package to install (see `loadWithOptionalPeer`). Values
 * are re-exported from the loaded modules; each class is exported as a value and a type of the
 * same name, so it works in `new`, `instanceof`, `extends`, type positions and Nest injection alike.
 *
 * @module nestjs-meridian-stream/typeorm
 */
import { loadWithOptionalPeer } from '../packaging/optional-peer.js';
import type * as Store from './typeorm-event-store.js';
import type * as Migration from './migration.js';

// One after the other: Jest's ESM loader (Node 20's vm modules) fails to link a module that two
// concurrent dynamic imports reach at once (entities.js, from all three).
const { store, entities, migration } = await loadWithOptionalPeer(
  'typeorm',
  'nestjs-meridian-stream/typeorm',
  async () => ({
    store: await import('./typeorm-event-store.js'),
    entities: await import('./entities.js'),
    migration: await import('./migration.js'),
  }),
);

/**
 * The event store on a TypeORM `DataSource` (`StreamingModule` option `store`). The DataSource
 * needs `meridianStreamEntities` among its entities and the tables of `meridianStreamMigrations`.
 *
 * ```ts
 * StreamingModule.forRootAsync({
 *   inject: [DataSource],
 *   useFactory: (dataSource: DataSource) => ({ store: new TypeOrmEventStore(dataSource) }),
 * });
 * ```
 * @class
 */
export const TypeOrmEventStore = store.TypeOrmEventStore;
/**
 * The event store on a TypeORM `DataSource` (`StreamingModule` option `store`). The DataSource
 * needs `meridianStreamEntities` among its entities and the tables of `meridianStreamMigrations`.
 */
export type TypeOrmEventStore = Store.TypeOrmEventStore;

/**
 * Thrown when a write does not continue the stored stream exactly (it would leave a gap or a duplicate).
 * @class
 */
export const StoreSequenceError = store.StoreSequenceError;
/** Thrown when a write does not continue the stored stream exactly (it would leave a gap or a duplicate). */
export type StoreSequenceError = Store.StoreSequenceError;

/** The entities to add to the application's `DataSource`: the events table and the streams table. */
export const meridianStreamEntities = entities.meridianStreamEntities;
/** Entity of the events table (one row per event, primary key stream id + sequence). */
export const StreamEventEntity = entities.StreamEventEntity;
/** Entity of the streams table (one row per stream: epoch, status, last stored sequence). */
export const StreamMetaEntity = entities.StreamMetaEntity;
/** Name of the events table. */
export const STREAM_EVENTS_TABLE = entities.STREAM_EVENTS_TABLE;
/** Name of the streams table. */
export const STREAMS_TABLE = entities.STREAMS_TABLE;
export type { StreamEventRow, StreamMetaRow } from './entities.js';

/**
 * The migration that creates the two tables of the event store (PostgreSQL and SQLite).
 * @class
 */
export const CreateMeridianStreamTables1795000000000 = migration.CreateMeridianStreamTables1795000000000;
/** The migration that creates the two tables of the event store (PostgreSQL and SQLite). */
export type CreateMeridianStreamTables1795000000000 = Migration.CreateMeridianStreamTables1795000000000;
/**
 * The migration that adds the `descriptor` column (stream metadata) to the streams table.
 * @class
 */
export const AddMeridianStreamDescriptor1796000000000 = migration.AddMeridianStreamDescriptor1796000000000;
/** The migration that adds the `descriptor` column (stream metadata) to the streams table. */
export type AddMeridianStreamDescriptor1796000000000 = Migration.AddMeridianStreamDescriptor1796000000000;
/** The migrations to add to the application's `DataSource`: they create the tables, then add what later versions need. */
export const meridianStreamMigrations = migration.meridianStreamMigrations;
