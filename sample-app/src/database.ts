import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import { meridianStreamEntities, meridianStreamMigrations } from 'nestjs-meridian-stream/typeorm';

/** Where the sample keeps its SQLite file when DATABASE_URL is unset: `sample-app/data/`. */
export const DEFAULT_SQLITE_FILE = path.resolve(import.meta.dirname, '..', 'data', 'meridian.sqlite');

/**
 * TypeORM options from a database URL: `postgres://...` for PostgreSQL, `sqlite:<file>` for a
 * SQLite file; none for the embedded default (a SQLite file, created on first start).
 */
export function typeOrmOptions(databaseUrl: string | undefined): TypeOrmModuleOptions {
  const common = { entities: meridianStreamEntities, migrations: meridianStreamMigrations, migrationsRun: true };
  if (databaseUrl && /^postgres(ql)?:\/\//.test(databaseUrl)) {
    return { type: 'postgres', url: databaseUrl, ...common };
  }
  if (databaseUrl && !databaseUrl.startsWith('sqlite:')) {
    throw new Error(`DATABASE_URL must start with postgres:// or sqlite: (got "${databaseUrl.split(':')[0]}:...").`);
  }
  const file = databaseUrl ? databaseUrl.slice('sqlite:'.length) : DEFAULT_SQLITE_FILE;
  mkdirSync(path.dirname(file), { recursive: true });
  return { type: 'better-sqlite3', database: file, ...common };
}
