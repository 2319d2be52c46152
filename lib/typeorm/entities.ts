import { EntitySchema, type ValueTransformer } from 'typeorm';

/** A row of `meridian_stream_events`. */
export interface StreamEventRow {
  streamId: string;
  sequence: number;
  epoch: string;
  type: string;
  data: string;
  createdAt: number;
}

/** A row of `meridian_streams`. */
export interface StreamMetaRow {
  streamId: string;
  epoch: string;
  status: string;
  lastSequence: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/** PostgreSQL returns BIGINT as a string; sequences and times fit a JS number. */
const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};

export const STREAM_EVENTS_TABLE = 'meridian_stream_events';
export const STREAMS_TABLE = 'meridian_streams';

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
  },
});

/** Add these to your DataSource's `entities`. */
export const meridianStreamEntities = [StreamEventEntity, StreamMetaEntity];
