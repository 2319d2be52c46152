import { Table, TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { STREAM_EVENTS_TABLE, STREAMS_TABLE } from './entities.js';

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

/** Add these to your DataSource's `migrations`, all of them, in this order. */
export const meridianStreamMigrations = [
  CreateMeridianStreamTables1795000000000,
  AddMeridianStreamDescriptor1796000000000,
];
