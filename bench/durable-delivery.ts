/**
 * What delivery after commit costs: default write-behind against `durability: 'commit'` (group
 * commit every `groupCommitMs`), in the same run, on SQLite and on PostgreSQL.
 *
 * In process, through the registry and a client attached to the stream (no HTTP: the store is
 * what differs between the two modes):
 *   - throughput: one stream, its producer sending as fast as it is let (`await writable()`
 *     between bursts of 50); events per second until the client has the final event, and until
 *     the store holds every event;
 *   - latency: one stream, an event every 2 ms; time from `send()` to the client, p50 and p99.
 * Figures are printed as ratios to write-behind on the same database.
 *
 *   npm run bench:durable            (EVENTS=20000 SIZE=100 LATENCY_EVENTS=1000 by default)
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test for PostgreSQL (skipped without it)
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { StreamRegistry, type ProducerContext, type StreamDurability, type StreamEvent } from '../lib/index.js';
import { TypeOrmEventStore } from '../lib/typeorm/index.js';
import { openTestDatabase } from '../test/support/databases.js';

const EVENTS = Number(process.env.EVENTS ?? 20_000);
const SIZE = Number(process.env.SIZE ?? 100);
const LATENCY_EVENTS = Number(process.env.LATENCY_EVENTS ?? 1_000);
const MODES: StreamDurability[] = ['write-behind', 'commit'];
const DATA = 'x'.repeat(SIZE);

interface Database {
  name: string;
  dataSource: DataSource;
  close(): Promise<void>;
}

async function open(kind: 'sqlite' | 'postgres'): Promise<Database> {
  const database = await openTestDatabase(kind);
  return { ...database, name: kind === 'sqlite' ? 'SQLite' : 'PostgreSQL' };
}

/** Resolves once the client has the event with this sequence. */
function clientUntil(onEvent: (event: StreamEvent) => void) {
  let last = 0;
  let waiter: { sequence: number; resolve: () => void } | undefined;
  const sink = {
    write(event: StreamEvent) {
      last = event.sequence;
      onEvent(event);
      if (waiter && last >= waiter.sequence) waiter.resolve();
      return true;
    },
    end() {},
  };
  const reached = (sequence: number) =>
    last >= sequence ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { sequence, resolve }));
  return { sink, reached };
}

async function whenStored(stream: { persistedThrough: number; lastSequence: number }): Promise<void> {
  while (stream.persistedThrough < stream.lastSequence) await sleep(1);
}

async function throughput(database: Database, durability: StreamDurability) {
  const registry = new StreamRegistry({ store: new TypeOrmEventStore(database.dataSource), heartbeatMs: 0 });
  const stream = registry.create(undefined, { durability });
  const client = clientUntil(() => undefined);
  stream.attach(client.sink);
  const started = performance.now();
  const producer = async ({ send, writable }: Pick<ProducerContext, 'send' | 'writable'>) => {
    for (let i = 0; i < EVENTS; i++) {
      send({ data: DATA });
      if (i % 50 === 49) {
        await writable();
        await nextTurn();
      }
    }
  };
  await producer({ send: (input) => stream.send(input), writable: () => stream.writable() });
  stream.complete();
  await client.reached(EVENTS + 1);
  const delivered = (performance.now() - started) / 1000;
  await whenStored(stream);
  const stored = (performance.now() - started) / 1000;
  await registry.shutdown({ graceMs: 0 });
  return { deliveredPerSecond: EVENTS / delivered, storedPerSecond: EVENTS / stored };
}

async function latency(database: Database, durability: StreamDurability) {
  const registry = new StreamRegistry({ store: new TypeOrmEventStore(database.dataSource), heartbeatMs: 0 });
  const stream = registry.create(undefined, { durability });
  const sentAt = new Map<number, number>();
  const delays: number[] = [];
  const client = clientUntil((event) => {
    const at = sentAt.get(event.sequence);
    if (at !== undefined) delays.push(performance.now() - at);
  });
  stream.attach(client.sink);
  for (let i = 0; i < LATENCY_EVENTS; i++) {
    // Set first: with write-behind the client has the event before send() returns.
    sentAt.set(stream.lastSequence + 1, performance.now());
    stream.send({ data: DATA });
    await sleep(2);
  }
  stream.complete();
  await client.reached(LATENCY_EVENTS + 1);
  await whenStored(stream);
  await registry.shutdown({ graceMs: 0 });
  delays.sort((a, b) => a - b);
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))];
  return { p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function main(): Promise<void> {
  const databases = [await open('sqlite')];
  if (process.env.DATABASE_URL?.startsWith('postgres')) databases.push(await open('postgres'));
  else console.warn('DATABASE_URL (postgres://...) is unset: PostgreSQL is skipped.');
  const rows: Record<string, string | number>[] = [];
  for (const database of databases) {
    const results: Record<string, Awaited<ReturnType<typeof throughput>> & Awaited<ReturnType<typeof latency>>> = {};
    // Warm-up: connections, prepared statements, the JIT.
    await throughput(database, 'write-behind');
    for (const mode of MODES)
      results[mode] = { ...(await throughput(database, mode)), ...(await latency(database, mode)) };
    const base = results['write-behind'];
    for (const mode of MODES) {
      const r = results[mode];
      rows.push({
        database: database.name,
        durability: mode,
        'delivered ev/s': Math.round(r.deliveredPerSecond),
        'x delivered': +(r.deliveredPerSecond / base.deliveredPerSecond).toFixed(2),
        'stored ev/s': Math.round(r.storedPerSecond),
        'x stored': +(r.storedPerSecond / base.storedPerSecond).toFixed(2),
        'p50 ms': +r.p50Ms.toFixed(2),
        'x p50': +(r.p50Ms / base.p50Ms).toFixed(1),
        'p99 ms': +r.p99Ms.toFixed(2),
        'x p99': +(r.p99Ms / base.p99Ms).toFixed(1),
      });
    }
    await database.close();
  }
  console.log(`${EVENTS} events of ${SIZE} bytes (throughput), ${LATENCY_EVENTS} at one per 2 ms (latency)`);
  console.table(rows);
  console.log(JSON.stringify(rows));
}

await main();
