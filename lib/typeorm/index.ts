export { TypeOrmEventStore, StoreSequenceError } from './typeorm-event-store.js';
export {
  meridianStreamEntities,
  StreamEventEntity,
  StreamMetaEntity,
  STREAM_EVENTS_TABLE,
  STREAMS_TABLE,
  type StreamEventRow,
  type StreamMetaRow,
} from './entities.js';
export { CreateMeridianStreamTables1795000000000, meridianStreamMigrations } from './migration.js';
