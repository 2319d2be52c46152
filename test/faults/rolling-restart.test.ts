import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { InProcessStreamBus } from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { captureLogs, startFaultApp } from '../support/fault-app.js';
import { openTestDatabase } from '../support/databases.js';
import { within } from '../support/eventually.js';
import { mulberry32 } from '../support/prng.js';
import { createStream, getStats } from '../support/sample-app.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';
import { startSampleProcess, type SampleProcess } from '../support/fault-process.js';
import { freePort } from '../support/spawned-app.js';
import {
  expectExactRun,
  fingerprint,
  followUntilFinal,
  RawSseClient,
  sequenceOf,
  type LogicalClientResult,
} from '../support/fault-sse.js';

/*
 * Issue 7: a rolling restart. Two sample-app processes share streams through Redis and one
 * PostgreSQL database. Streams are produced on both; clients follow them on both, each choosing
 * the next instance round-robin whenever it (re)connects. Instance A is restarted (SIGTERM, wait
 * for its exit, start again on the same port), new streams are started, then B is restarted, all
 * while streams run. Every client ends with the full sequence of its stream: every event the
 * stream issued, once, in order, ending with one final event (`cancelled` for a stream whose
 * producing instance was restarted under it, `done` otherwise), never a gap or a duplicate, and
 * all clients of a stream agree on it event for event. The database holds the same sequence.
 */

const postgresUp = process.env.MERIDIAN_SERVICE_POSTGRES === 'up';
if (!postgresUp) {
  console.warn(
    `!!! rolling restart SKIPPED: DATABASE_URL is ${process.env.DATABASE_URL ? 'unreachable or not PostgreSQL' : 'unset'} (e.g. postgres://postgres@127.0.0.1:5432/test).`,
  );
}
const servicesUp = redisAvailable() && postgresUp;
if (!servicesUp && process.env.CI === 'true') {
  throw new Error(
    'The rolling restart test needs REDIS_URL and a PostgreSQL DATABASE_URL; under CI=true this fails the run.',
  );
}
const describeIfServices = servicesUp ? describe : describe.skip;

const EVENTS = 250;
const INTERVAL_MS = 30;
const CLIENTS_PER_STREAM = 3;

interface Instance {
  name: 'A' | 'B';
  port: number;
  current: SampleProcess | undefined;
  restarts: number;
}

interface Followed {
  readonly id: string;
  readonly producer: 'A' | 'B';
  readonly wave: number;
  readonly clients: Promise<LogicalClientResult>[];
}

describeIfServices('rolling restart of two instances sharing Redis and PostgreSQL (built sample app)', () => {
  const instances: Instance[] = [];
  /** Every process started, restarted ones included, for their logs. */
  const started: SampleProcess[] = [];
  const stopClients = new AbortController();
  /** ERROR lines the instances logged, but for the 503 of a registry shutting down and a known bug (below). */
  const unexpectedErrors = () =>
    started
      .flatMap((app) => app.output().split('\n'))
      // eslint-disable-next-line no-control-regex
      .map((line) => line.replace(/\x1b\[[0-9;]*m/g, ''))
      .filter((line) => /\bERROR\b/.test(line))
      .filter((line) => !/RegistryClosedError|final write to the store failed at shutdown/.test(line));
  const env = {
    DATABASE_URL: process.env.DATABASE_URL!,
    REDIS_URL: process.env.REDIS_URL!,
    REDIS_PREFIX: uniquePrefix(),
    LEASE_MS: '2000',
    SHUTDOWN_GRACE_MS: '2000',
    RETENTION_MS: '60000',
    HEARTBEAT_MS: '1000',
  };

  beforeAll(async () => {
    for (const name of ['A', 'B'] as const) {
      const port = await freePort();
      const current = await startSampleProcess({ port, env });
      started.push(current);
      instances.push({ name, port, current, restarts: 0 });
    }
  }, 60_000);
  afterAll(async () => {
    stopClients.abort();
    await Promise.all(instances.map((instance) => instance.current?.stop('SIGKILL')));
  });

  const urlOf = (instance: Instance, streamId: string) => `http://127.0.0.1:${instance.port}/streams/${streamId}`;

  async function restart(instance: Instance): Promise<void> {
    const running = instance.current!;

    const code = await running.stop('SIGTERM');
    // A clean exit: 0, or SIGTERM re-raised by Nest's shutdown hooks once app.close() is done.
    if (code !== 0 && code !== 'SIGTERM') {
      throw new Error(`instance ${instance.name} exited with ${code}:\n${running.output()}`);
    }
    instance.current = undefined;
    instance.current = await startSampleProcess({ port: instance.port, env });
    started.push(instance.current);
    instance.restarts++;
  }

  /** Starts a stream on `producer` and its clients, each starting on the next instance round-robin. */
  async function startFollowed(producer: Instance, wave: number, counter: { next: number }): Promise<Followed> {
    const { id } = await createStream(producer.current!.baseUrl, { events: EVENTS, intervalMs: INTERVAL_MS });
    const clients = Array.from({ length: CLIENTS_PER_STREAM }, () => {
      const start = counter.next++;
      const random = mulberry32(start + 1);
      // Besides the restarts, each client hops to the other instance every 20 to 80 events.
      let hopAfter = 20 + Math.floor(random() * 60);
      const client = followUntilFinal((attempt) => urlOf(instances[(start + attempt) % instances.length], id), {
        retryMs: 100,
        deadlineMs: 50_000,
        // Events come every 30 ms, and a restart ends the connections it concerns: a connection
        // open 10 s without an event is stuck (e.g. its instance lost the final event).
        stallMs: 10_000,
        signal: stopClients.signal,
        cut: (connection) => {
          if (connection.events.length < hopAfter) return undefined;
          hopAfter = 20 + Math.floor(random() * 60);
          return 'close';
        },
      });
      // Awaited below; if the test fails first, this keeps the rejection from being unhandled.
      client.catch(() => undefined);
      return client;
    });
    return { id, producer: producer.name, wave, clients };
  }

  it('every client ends with the full sequence of its stream, once, in order, then a final event', async () => {
    const [a, b] = instances;
    const counter = { next: 0 };
    const followed: Followed[] = [];
    for (const producer of [a, b, a, b]) followed.push(await startFollowed(producer, 1, counter));
    await sleep(1_500);

    await restart(a);
    for (const producer of [a, b, a]) followed.push(await startFollowed(producer, 2, counter));
    await sleep(1_500);

    await restart(b);
    const results = await Promise.all(
      followed.map(async (stream) => ({ stream, clients: await Promise.all(stream.clients) })),
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nServer errors:\n${unexpectedErrors().slice(0, 10).join('\n')}`);
    });
    expect(unexpectedErrors()).toEqual([]);

    const database = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await database.connect();
    try {
      for (const { stream, clients } of results) {
        const label = `stream ${stream.id} (produced on ${stream.producer}, wave ${stream.wave})`;
        const reference = clients[0].events;
        for (const [index, client] of clients.entries()) {
          expectExactRun(client.events, { final: 'any', label: `${label}, client ${index}` });
          expect(fingerprint(client.events)).toEqual(fingerprint(reference));
          // Only "shutting down" answers between reconnects, never 400/404/204.
          expect({ label, statuses: client.statuses.filter((status) => status !== 503) }).toEqual({
            label,
            statuses: [],
          });
        }
        const final = reference.at(-1)!;
        const producerRestartedUnderIt = stream.producer === 'B' || stream.wave === 1;
        if (final.event === 'cancelled') {
          expect({ label, data: JSON.parse(final.data) }).toEqual({
            label,
            data: { status: 'cancelled', reason: 'shutdown' },
          });
          expect({ label, producerRestartedUnderIt }).toEqual({ label, producerRestartedUnderIt: true });
        } else {
          expect({ label, final: final.event, events: reference.length }).toEqual({
            label,
            final: 'done',
            events: EVENTS + 1,
          });
        }
        // The store holds exactly what the clients got (written behind, and at shutdown).
        const rows = await database.query<{ sequence: string }>(
          'SELECT sequence FROM meridian_stream_events WHERE stream_id = $1 ORDER BY sequence',
          [stream.id],
        );
        expect({ label, stored: rows.rows.map((row) => Number(row.sequence)) }).toEqual({
          label,
          stored: reference.map((_, index) => index + 1),
        });
      }
    } finally {
      await database.end();
    }
    // Streams produced on A after its restart ran to completion; those on a restarted producer were cancelled.
    expect(
      results
        .filter(({ stream }) => stream.producer === 'A' && stream.wave === 2)
        .map(({ clients }) => clients[0].events.at(-1)!.event),
    ).toEqual(['done', 'done']);
    expect(results.some(({ clients }) => clients[0].events.at(-1)!.event === 'cancelled')).toBe(true);
    // The clients really moved between instances, and some found an instance down and went on.
    const all = results.flatMap(({ clients }) => clients);
    expect(all.reduce((sum, client) => sum + client.connections - 1, 0)).toBeGreaterThan(2 * all.length);
    expect(all.reduce((sum, client) => sum + client.failedAttempts, 0)).toBeGreaterThan(0);
    for (const instance of instances) {
      expect((await getStats(instance.current!.baseUrl)).clients).toBe(0);
    }
  }, 90_000);
});

/*
 * Found while building the rolling restart: what the shutdown of an instance does to streams it
 * only follows (produced on another instance). Two Nest apps in this process share an
 * InProcessStreamBus and one SQLite store; no Redis or PostgreSQL needed.
 */
describe('shutdown of an instance that only follows a stream (two apps, in-process bus)', () => {
  async function twoInstances(followerGraceMs: number) {
    const db = await openTestDatabase('sqlite');
    const bus = new InProcessStreamBus();
    const store = new TypeOrmEventStore(db.dataSource);
    const followerLogs = captureLogs();
    const producer = await startFaultApp({ bus, store, persistEveryEvents: 0, persistEveryMs: 0, logger: false });
    const follower = await startFaultApp({
      bus,
      store,
      persistEveryEvents: 0,
      persistEveryMs: 0,
      shutdownGraceMs: followerGraceMs,
      logger: followerLogs.logger,
    });
    const stream = producer.registry.create(async ({ send, signal }) => {
      for (let i = 0; i < 300 && !signal.aborted; i++) {
        send({ type: 'tick', data: { i } });
        await sleep(20);
      }
    });
    await stream.whenShared();
    return { db, producer, follower, followerLogs, stream };
  }

  /*
   * Found by this test (fixed): shutdown used to try to write followed streams and log an error
   * for each; only streams produced here are written now.
   */
  test('logs no error about writing streams it does not produce', async () => {
    const { db, producer, follower, followerLogs, stream } = await twoInstances(1_000);
    try {
      const client = new RawSseClient(follower.url(stream.id));
      await client.waitFor((c) => c.events.length >= 5);
      await follower.close();
      await client.done;
      expect(followerLogs.errors.filter((line) => /final write to the store failed/.test(line))).toEqual([]);
    } finally {
      await producer.close();
      await db.close();
    }
  }, 20_000);

  /*
   * Found by this test (fixed): clients of followed streams used to wait the whole grace period at
   * shutdown; they are now ended at once and resume on another instance.
   */
  test('ends the clients of a followed stream at once, not after the grace period', async () => {
    const graceMs = 6_000;
    const { db, producer, follower, stream } = await twoInstances(graceMs);
    try {
      const client = new RawSseClient(follower.url(stream.id));
      await client.waitFor((c) => c.events.length >= 5);
      const closing = follower.close();
      // Ended at once: the behaviour is "before the grace period", and half of it is the margin.
      await within(
        client.done,
        graceMs / 2,
        () => `the follower's client was still open (${client.events.length} events): it waits for the grace period`,
      );
      await closing;
      // Told to reconnect (no final event: the stream goes on), and it resumes exactly elsewhere.
      expectExactRun(client.events, { label: 'follower client' });
      const rest = new RawSseClient(producer.url(stream.id), client.lastEventId);
      await rest.waitFor((c) => c.events.length >= 3);
      rest.close();
      expectExactRun(rest.events, { after: sequenceOf(client.lastEventId) });
    } finally {
      await producer.close();
      await db.close();
    }
  }, 30_000);
});
