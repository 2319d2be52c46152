import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { FINISHED_AT_INDEX, STALE_INDEX, STREAM_EVENTS_TABLE, STREAMS_TABLE } from './entities.js';

/**
 * Creates the two tables of the event store. Add it to your DataSource's `migrations` (and run
 * them, e.g. `migrationsRun: true`). Portable across PostgreSQL and SQLite: times are stored as
 * milliseconds since the epoch.
 */
export class CreateMeridianStreamTables1795000000000 implements MigrationInterface {
  name = 'CreateMeridianStreamTables1795000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: STREAM_EVENTS_TABLE,
        columns: [
          { name: 'stream_id', type: 'varchar', length: '128', isPrimary: true },
          { name: 'sequence', type: 'bigint', isPrimary: true },
          { name: 'epoch', type: 'varchar', length: '32' },
          { name: 'type', type: 'text' },
          { name: 'data', type: 'text' },
          { name: 'created_at', type: 'bigint' },
        ],
      }),
      true,
    );
    await queryRunner.createTable(
      new Table({
        name: STREAMS_TABLE,
        columns: [
          { name: 'stream_id', type: 'varchar', length: '128', isPrimary: true },
          { name: 'epoch', type: 'varchar', length: '32' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'last_sequence', type: 'bigint' },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
          { name: 'finished_at', type: 'bigint', isNullable: true },
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(STREAMS_TABLE, true);
    await queryRunner.dropTable(STREAM_EVENTS_TABLE, true);
  }
}

/**
 * Adds the nullable `descriptor` column (JSON text: the stream's metadata and the options that
 * travel with it) to the streams table. Rows written before it keep null: no metadata.
 */
export class AddMeridianStreamDescriptor1796000000000 implements MigrationInterface {
  name = 'AddMeridianStreamDescriptor1796000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(STREAMS_TABLE, new TableColumn({ name: 'descriptor', type: 'text', isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn(STREAMS_TABLE, 'descriptor');
  }
}

/**
 * Adds the indexes store retention reads (`storeRetentionMs`): finished streams by finish time,
 * and streams stored as running by their last write (to find interrupted ones), so a purge
 * never scans the table.
 */
export class AddMeridianStreamRetentionIndexes1797000000000 implements MigrationInterface {
  name = 'AddMeridianStreamRetentionIndexes1797000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex(
      STREAMS_TABLE,
      new TableIndex({ name: FINISHED_AT_INDEX, columnNames: ['finished_at'] }),
    );
    await queryRunner.createIndex(
      STREAMS_TABLE,
      new TableIndex({ name: STALE_INDEX, columnNames: ['status', 'updated_at'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex(STREAMS_TABLE, STALE_INDEX);
    await queryRunner.dropIndex(STREAMS_TABLE, FINISHED_AT_INDEX);
  }
}

/** Add these to your DataSource's `migrations`, all of them, in this order. */
export const meridianStreamMigrations = [
  CreateMeridianStreamTables1795000000000,
  AddMeridianStreamDescriptor1796000000000,
  AddMeridianStreamRetentionIndexes1797000000000,
];
