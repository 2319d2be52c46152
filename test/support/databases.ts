import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { meridianStreamEntities, meridianStreamMigrations, TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';

export type DatabaseKind = 'sqlite' | 'postgres';

/** A migrated database of its own: a new SQLite file, or a new PostgreSQL schema. */
export interface TestDatabase {
  readonly kind: DatabaseKind;
  readonly dataSource: DataSource;
  /** A table name as raw SQL must write it (schema-qualified on PostgreSQL). */
  table(name: string): string;
  close(): Promise<void>;
}

/**
 * The databases to run a suite against. PostgreSQL needs DATABASE_URL reachable (checked by
 * test/global-setup.ts, which fails the run under CI=true); without it the PostgreSQL cases are
 * skipped, and this says so loudly.
 */
export function databaseKinds(): DatabaseKind[] {
  if (process.env.MERIDIAN_SERVICE_POSTGRES === 'up') return ['sqlite', 'postgres'];
  console.warn(
    `!!! PostgreSQL cases SKIPPED: DATABASE_URL is ${process.env.DATABASE_URL ? 'unreachable' : 'unset'} (e.g. postgres://postgres@127.0.0.1:5432/test).`,
  );
  return ['sqlite'];
}

export async function openTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  const common = { entities: meridianStreamEntities, migrations: meridianStreamMigrations, migrationsRun: true };
  if (kind === 'sqlite') {
    const folder = mkdtempSync(path.join(tmpdir(), 'meridian-sqlite-'));
    const dataSource = await new DataSource({
      type: 'better-sqlite3',
      database: path.join(folder, 'events.sqlite'),
      ...common,
    }).initialize();
    return {
      kind,
      dataSource,
      table: (name) => name,
      close: async () => {
        await dataSource.destroy();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  }
  const url = process.env.DATABASE_URL!;
  const schema = `meridian_test_${randomBytes(6).toString('hex')}`;
  const admin = await new DataSource({ type: 'postgres', url }).initialize();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const dataSource = await new DataSource({ type: 'postgres', url, schema, ...common }).initialize();
  return {
    kind,
    dataSource,
    table: (name) => `"${schema}"."${name}"`,
    close: async () => {
      await dataSource.destroy();
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.destroy();
    },
  };
}

/**
 * Registers beforeAll/afterAll for a suite that needs a migrated database of `kind` and the
 * TypeORM store on it, handing both to `assign` once they are open.
 */
export function useStore(
  kind: DatabaseKind,
  assign: (opened: { db: TestDatabase; store: TypeOrmEventStore }) => void,
): void {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await openTestDatabase(kind);
    assign({ db, store: new TypeOrmEventStore(db.dataSource) });
  });
  afterAll(() => db?.close());
}
