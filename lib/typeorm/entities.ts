import { EntitySchema, type ValueTransformer } from 'typeorm';

/** A row of `meridian_stream_events`. */
export interface StreamEventRow {
  /** Column `stream_id`, part of the primary key. */
  streamId: string;
  /** Column `sequence`, part of the primary key. */
  sequence: number;
  /** Column `epoch`: the stream history the event belongs to. */
  epoch: string;
  /** Column `type`: the SSE event type. */
  type: string;
  /** Column `data`: the serialised data (base64 behind a marker when it contains NUL). */
  data: string;
  /** Column `created_at`: when it was written, ms since the epoch. */
  createdAt: number;
}

/** A row of `meridian_streams`. */
export interface StreamMetaRow {
  /** Column `stream_id`, the primary key. */
  streamId: string;
  /** Column `epoch`. */
  epoch: string;
  /** Column `status`: the stream's state as of the events stored. */
  status: string;
  /** Column `last_sequence`: the last event stored. */
  lastSequence: number;
  /** Column `created_at`, ms since the epoch. */
  createdAt: number;
  /** Column `updated_at`, ms since the epoch. */
  updatedAt: number;
  /** Column `finished_at`, ms since the epoch; null while the stream runs. */
  finishedAt: number | null;
  /**
   * Column `descriptor` (JSON text): the stream's metadata and the options that travel with it;
   * null for streams stored before it existed. Added by `AddMeridianStreamDescriptor1796000000000`.
   */
  descriptor?: string | null;
}

/** PostgreSQL returns BIGINT as a string; sequences and times fit a JS number. */
const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};

/** Name of the events table. */
export const STREAM_EVENTS_TABLE = 'meridian_stream_events';
/** Name of the streams table. */
export const STREAMS_TABLE = 'meridian_streams';
/** Index of the streams table on `finished_at`, for store retention. */
export const FINISHED_AT_INDEX = 'IDX_meridian_streams_finished_at';
/** Index of the streams table on (`status`, `updated_at`): streams stored as running, by last write. */
export const STALE_INDEX = 'IDX_meridian_streams_status_updated_at';

/** One stored event; primary key (stream id, sequence), so an event can never be stored twice. */
export const StreamEventEntity = new EntitySchema<StreamEventRow>({
  name: 'MeridianStreamEvent',
  tableName: STREAM_EVENTS_TABLE,
  columns: {
    streamId: { name: 'stream_id', type: 'varchar', length: 128, primary: true },
    sequence: { name: 'sequence', type: 'bigint', primary: true, transformer: bigintAsNumber },
    epoch: { name: 'epoch', type: 'varchar', length: 32 },
    type: { name: 'type', type: 'text' },
    data: { name: 'data', type: 'text' },
    createdAt: { name: 'created_at', type: 'bigint', transformer: bigintAsNumber },
  },
});

/** What is known of a stream besides its events: its epoch, status and last stored sequence. */
export const StreamMetaEntity = new EntitySchema<StreamMetaRow>({
  name: 'MeridianStream',
  tableName: STREAMS_TABLE,
  columns: {
    streamId: { name: 'stream_id', type: 'varchar', length: 128, primary: true },
    epoch: { name: 'epoch', type: 'varchar', length: 32 },
    status: { name: 'status', type: 'varchar', length: 16 },
    lastSequence: { name: 'last_sequence', type: 'bigint', transformer: bigintAsNumber },
    createdAt: { name: 'created_at', type: 'bigint', transformer: bigintAsNumber },
    updatedAt: { name: 'updated_at', type: 'bigint', transformer: bigintAsNumber },
    finishedAt: { name: 'finished_at', type: 'bigint', nullable: true, transformer: bigintAsNumber },
    descriptor: { name: 'descriptor', type: 'text', nullable: true },
  },
  // Added by AddMeridianStreamRetentionIndexes1797000000000.
  indices: [
    { name: FINISHED_AT_INDEX, columns: ['finishedAt'] },
    { name: STALE_INDEX, columns: ['status', 'updatedAt'] },
  ],
});

/** Add these to your DataSource's `entities`. */
export const meridianStreamEntities = [StreamEventEntity, StreamMetaEntity];
