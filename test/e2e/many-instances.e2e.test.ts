import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { within } from '../support/eventually.js';
import { createStream } from '../support/sample-app.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';
import { spawnSampleApp, type SpawnedApp } from '../support/spawned-app.js';
import { readAll, SseReader, type ParsedEvent } from '../support/sse-reader.js';

/*
 * Issue 23 with real processes and real Redis: one history when a producer is paused past its
 * lease (SIGSTOP, then SIGCONT), cancel sent to another instance, and a drained SIGTERM.
 */

const postgresUp = process.env.MERIDIAN_SERVICE_POSTGRES === 'up';
const describeIfRedis = redisAvailable() ? describe : describe.skip;
const history = (events: ParsedEvent[]) => events.map((event) => `${event.id} ${event.event} ${event.data}`);
const pathOf = (url: string) => new URL(url).pathname;

async function spawnPair(extra: Record<string, string> = {}): Promise<SpawnedApp[]> {
  const env = {
    REDIS_URL: process.env.REDIS_URL!,
    REDIS_PREFIX: uniquePrefix(),
    HEARTBEAT_MS: '0',
    ...(postgresUp ? { DATABASE_URL: process.env.DATABASE_URL! } : {}),
    ...extra,
  };
  return Promise.all([spawnSampleApp(env), spawnSampleApp(env)]);
}

describeIfRedis('many instances on Redis (built sample app, real processes)', () => {
  let apps: SpawnedApp[] = [];
  afterEach(async () => {
    for (const app of apps) app.process.kill('SIGCONT');
    await Promise.all(apps.map((app) => app.stop('SIGKILL')));
    apps = [];
  });

  it('a producer paused past its lease is fenced: one history on every instance, live and late, and in the store', async () => {
    apps = await spawnPair({ LEASE_MS: '1000' });
    const [a, b] = apps;
    const { id, url } = await createStream(a.baseUrl, { events: 5_000, intervalMs: 5 });
    const onA = new SseReader(url);
    const onB = new SseReader(`${b.baseUrl}${pathOf(url)}`);
    await onB.waitFor((reader) => reader.events.length >= 20);
    a.process.kill('SIGSTOP');
    // B sees A's lease run out and ends the stream for everyone it can reach.
    await within(onB.done, 10_000, () => `B's client: ${onB.events.length} events, last ${onB.lastEventId}`);
    const final = onB.events.at(-1)!;
    expect(final.event).toBe('error');
    expect(JSON.parse(final.data)).toMatchObject({ reason: 'producer_lost' });
    await sleep(500);
    a.process.kill('SIGCONT');
    // A wakes up, keeps producing, is refused, and gives its client the same ending.
    await within(onA.done, 10_000, () => `A's client: ${onA.events.length} events, last ${onA.lastEventId}`);
    expect(history(onA.events)).toEqual(history(onB.events));
    const sequences = onB.events.map((event) => Number(event.id!.split('-')[1]));
    expect(sequences).toEqual(sequences.map((_, index) => index + 1));
    // Late clients on either instance, from the start, get the same history.
    for (const app of apps) {
      const late = await readAll(`${app.baseUrl}${pathOf(url)}`);
      expect(history(late.events)).toEqual(history(onB.events));
    }
    if (!postgresUp) return;
    // The producer stores what the bus accepted, ending included: the same events, the same ids.
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      const stored = async () =>
        (
          await client.query<{ sequence: string; type: string; data: string }>(
            'SELECT sequence, type, data FROM meridian_stream_events WHERE stream_id = $1 ORDER BY sequence',
            [id],
          )
        ).rows;
      const deadline = Date.now() + 10_000;
      while ((await stored()).length < onB.events.length && Date.now() < deadline) await sleep(100);
      const epoch = final.id!.split('-')[0];
      expect((await stored()).map((row) => `${epoch}-${row.sequence} ${row.type} ${row.data}`)).toEqual(
        history(onB.events),
      );
    } finally {
      await client.end();
    }
  }, 60_000);

  it('DELETE on another instance cancels the stream everywhere; cancelling again or a finished stream answers its state', async () => {
    apps = await spawnPair();
    const [a, b] = apps;
    const { id, url } = await createStream(a.baseUrl, { events: 5_000, intervalMs: 10 });
    const onA = new SseReader(url);
    const onB = new SseReader(`${b.baseUrl}${pathOf(url)}`);
    await onA.waitFor((reader) => reader.events.length >= 5);
    const cancel = (app: SpawnedApp, streamId: string) =>
      fetch(`${app.baseUrl}/streams/${streamId}`, { method: 'DELETE' });
    const first = await cancel(b, id);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ stream_id: id, state: 'cancelled' });
    await within(Promise.all([onA.done, onB.done]), 5_000, () => `${onA.events.length} / ${onB.events.length} events`);
    expect(onA.events.at(-1)!.event).toBe('cancelled');
    expect(onB.events.at(-1)).toEqual(onA.events.at(-1));
    for (const app of apps) expect(await (await cancel(app, id)).json()).toEqual({ stream_id: id, state: 'cancelled' });
    const short = await createStream(b.baseUrl, { events: 2, intervalMs: 1 });
    await readAll(short.url);
    expect(await (await cancel(a, short.id)).json()).toEqual({ stream_id: short.id, state: 'completed' });
    expect((await cancel(a, 'never-created')).status).toBe(404);
  }, 60_000);

  it("a chat's running answer is found on the other instance; a soft cancel there lets the producer finish, and its finish hook logs what it returned", async () => {
    apps = await spawnPair();
    const [a, b] = apps;
    const { id, url } = await createStream(a.baseUrl, { events: 5_000, intervalMs: 10, chatId: 'chat-1' });
    const found = await fetch(`${b.baseUrl}/chats/chat-1/stream`);
    expect(await found.json()).toEqual({ stream_id: id, stream_url: `/streams/${id}` });
    const onB = new SseReader(`${b.baseUrl}${pathOf(url)}`);
    await onB.waitFor((reader) => reader.events.length >= 5);
    const soft = await fetch(`${b.baseUrl}/streams/${id}?soft=1`, { method: 'DELETE' });
    expect(await soft.json()).toEqual({ stream_id: id, state: 'cancelled', soft: true });
    await within(onB.done, 5_000, () => `B's client: ${onB.events.length} events`);
    expect(JSON.parse(onB.events.at(-1)!.data)).toMatchObject({ status: 'cancelled', soft: true });
    const logged = new RegExp(`Stream ${id} finished: cancelled, producer returned \\{"events_sent":\\d+\\}`);
    await within(
      (async () => {
        while (!logged.test(a.output())) await sleep(50);
      })(),
      5_000,
      () => `A's output has no finish line:\n${a.output().slice(-2_000)}`,
    );
    expect((await fetch(`${b.baseUrl}/chats/chat-1/stream`)).status).toBe(204);
  }, 60_000);

  it('SIGTERM with DRAIN_MS: the producer finishes its answer; a client on the other instance ends with done', async () => {
    apps = await spawnPair({ DRAIN_MS: '15000' });
    const [a, b] = apps;
    const { url } = await createStream(a.baseUrl, { events: 100, intervalMs: 30 });
    const onA = new SseReader(url);
    const onB = new SseReader(`${b.baseUrl}${pathOf(url)}`);
    await onB.waitFor((reader) => reader.events.length >= 10);
    const exited = a.stop('SIGTERM');
    // A's own client is let go at once, without a final event, to resume elsewhere.
    await within(onA.done, 5_000, () => `A's client: ${onA.events.length} events`);
    expect(onA.events.at(-1)?.event).toBe('text_delta');
    const resumed = await readAll(`${b.baseUrl}${pathOf(url)}`, { 'last-event-id': onA.lastEventId! });
    await within(onB.done, 15_000, () => `B's client: ${onB.events.length} events`);
    expect(onB.events).toHaveLength(101);
    expect(onB.events.at(-1)!.event).toBe('done');
    expect(history([...onA.events, ...resumed.events])).toEqual(history(onB.events));
    // Nest re-raises SIGTERM once app.close() is done: exited by the signal, not a crash or a kill.
    await within(exited, 10_000, () => `A did not exit:\n${a.output()}`);
    expect(a.process.signalCode).toBe('SIGTERM');
    expect(a.output()).toMatch(/letting 1 running stream\(s\) finish/);
  }, 60_000);
});
