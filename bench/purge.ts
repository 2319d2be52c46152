/**
 * Store retention's purge rate: events deleted per second by `registry.purgeStore()` (batches of
 * 100 streams, each batch one transaction), against a baseline measured in the same run on the
 * same data: one DELETE of all the due events and one of their streams (what a purge without
 * batches would do, holding its locks the whole time). SQLite always; PostgreSQL with DATABASE_URL.
 *
 *   npm run bench:purge            # PURGE_STREAMS (2000) x PURGE_EVENTS (100) events per round, 3 rounds
 */
import { StreamRegistry } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase, type DatabaseKind, type TestDatabase } from '../test/support/databases.js';
import { countRows, insertStreams } from '../test/support/bulk-streams.js';

const STREAMS = Number(process.env.PURGE_STREAMS ?? 2000);
const EVENTS = Number(process.env.PURGE_EVENTS ?? 100);
const ROUNDS = Number(process.env.PURGE_ROUNDS ?? 3);
const HOUR = 3_600_000;

/** Due streams to delete, beside as many recent ones that must stay (the purge reads past nothing). */
async function fill(db: TestDatabase, round: number): Promise<void> {
  const old = Date.now() - 2 * HOUR;
  const recent = Date.now() - 60_000;
  const common = { count: STREAMS, events: EVENTS, status: 'completed' as const };
  await insertStreams(db, { ...common, prefix: `due${round}-`, updatedAt: old, finishedAt: old });
  await insertStreams(db, { ...common, prefix: `keep${round}-`, updatedAt: recent, finishedAt: recent });
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function measure(kind: DatabaseKind): Promise<{ purge: number; baseline: number }> {
  const db = await openTestDatabase(kind);
  const registry = new StreamRegistry({ store: new TypeOrmEventStore(db.dataSource), storeRetentionMs: HOUR });
  const purgeRates: number[] = [];
  const baselineRates: number[] = [];
  const due = STREAMS * EVENTS;
  const events = db.table('meridian_stream_events');
  const streams = db.table('meridian_streams');
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await fill(db, round * 2);
      const seconds = await timed(() => registry.purgeStore());
      purgeRates.push(due / seconds);
      await fill(db, round * 2 + 1);
      const cutoff = Date.now() - HOUR;
      const baseline = await timed(() =>
        db.dataSource.transaction(async (manager) => {
          const ids = `SELECT stream_id FROM ${streams} WHERE finished_at < ${cutoff}`;
          await manager.query(`DELETE FROM ${events} WHERE stream_id IN (${ids})`);
          await manager.query(`DELETE FROM ${streams} WHERE finished_at < ${cutoff}`);
        }),
      );
      baselineRates.push(due / baseline);
      const kept = await countRows(db, 'meridian_stream_events');
      if (kept !== (round + 1) * 2 * due)
        throw new Error(`expected ${(round + 1) * 2 * due} events kept, found ${kept}`);
    }
  } finally {
    await registry.shutdown({ graceMs: 0 });
    await db.close();
  }
  return { purge: median(purgeRates), baseline: median(baselineRates) };
}

const kinds: DatabaseKind[] = process.env.DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
console.log(
  `Purge rate: ${STREAMS} due streams x ${EVENTS} events (and as many kept) per round, median of ${ROUNDS} rounds`,
);
console.log('| database | purge (events/s) | one-statement DELETE (events/s) | purge / baseline |');
console.log('|---|---:|---:|---:|');
for (const kind of kinds) {
  const { purge, baseline } = await measure(kind);
  const rate = (value: number) => Math.round(value).toLocaleString('en-US');
  console.log(`| ${kind} | ${rate(purge)} | ${rate(baseline)} | ${(purge / baseline).toFixed(2)} |`);
}
