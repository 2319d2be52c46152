import { within } from '../support/eventually.js';
import { SseReader } from '../support/sse-reader.js';
import { createStream } from '../support/sample-app.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';
import { spawnSampleApp, type SpawnedApp } from '../support/spawned-app.js';
import { mulberry32 } from '../support/prng.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;
const sequenceOf = (id: string) => Number(id.split('-')[1]);

/** Streams here send an event every 10 or 20 ms: a reader that gets none for this long is stuck. */
const STUCK_MS = 5_000;

/**
 * Waits until `predicate` holds, failing as soon as the reader has had no event for STUCK_MS
 * (a lost final event fails in seconds, not at the test's timeout).
 */
async function waitWhileMoving(reader: SseReader, predicate: (reader: SseReader) => boolean, where: string) {
  while (!predicate(reader)) {
    const seen = reader.events.length;
    await reader
      .waitFor((r) => predicate(r) || r.events.length > seen, STUCK_MS)
      .catch(() => {
        throw new Error(
          `${where}: no event for ${STUCK_MS} ms, and not ended (${seen} events, last ${reader.lastEventId})`,
        );
      });
  }
}

/**
 * One reader that keeps moving: reads a few events from one instance, drops, and resumes on a
 * random other instance with its Last-Event-ID, until the stream's final event.
 */
async function wander(
  apps: SpawnedApp[],
  path: string,
  random: () => number,
): Promise<{ sequences: number[]; last: string }> {
  const sequences: number[] = [];
  let lastId: string | undefined;
  let instance = Math.floor(random() * apps.length);
  for (let hop = 0; hop < 50; hop++) {
    const reader = new SseReader(`${apps[instance].baseUrl}${path}`, lastId ? { 'last-event-id': lastId } : {});
    const quota = 5 + Math.floor(random() * 40);
    await waitWhileMoving(reader, (r) => r.ended || r.events.length >= quota, `${path} on instance ${instance}`);
    reader.destroy();
    await reader.done;
    for (const event of reader.events) sequences.push(sequenceOf(event.id!));
    lastId = reader.lastEventId ?? lastId;
    const final = reader.events.at(-1);
    if (final && ['done', 'error', 'cancelled'].includes(final.event!)) return { sequences, last: final.event! };
    instance = (instance + 1 + Math.floor(random() * (apps.length - 1))) % apps.length;
  }
  throw new Error('too many hops');
}

describeIfRedis('three sample-app processes sharing streams through Redis', () => {
  const apps: SpawnedApp[] = [];
  beforeAll(async () => {
    const env = {
      REDIS_URL: process.env.REDIS_URL!,
      REDIS_PREFIX: uniquePrefix(),
      LEASE_MS: '1500',
      // One database for all instances when there is one; else each keeps its own file.
      ...(process.env.MERIDIAN_SERVICE_POSTGRES === 'up' ? { DATABASE_URL: process.env.DATABASE_URL! } : {}),
    };
    for (let i = 0; i < 3; i++) apps.push(await spawnSampleApp(env));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop('SIGKILL')));
  });

  it('every client sees exactly the full sequence while hopping between instances', async () => {
    const random = mulberry32(42);
    const streams = await Promise.all(apps.map((app) => createStream(app.baseUrl, { events: 150, intervalMs: 10 })));
    const runs = streams.flatMap(({ id }) => Array.from({ length: 8 }, () => wander(apps, `/streams/${id}`, random)));
    const results = await Promise.all(runs);
    expect(results).toHaveLength(3 * 8);
    for (const result of results) {
      expect(result.last).toBe('done');
      expect(result.sequences).toEqual(Array.from({ length: 151 }, (_, i) => i + 1));
    }
  }, 90_000);

  it('interjections sent to another instance reach the producer; every instance shows them; 413 and 409 too', async () => {
    const interject = (app: SpawnedApp, id: string, body: unknown) =>
      fetch(`${app.baseUrl}/streams/${id}/interjections`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const { id } = await createStream(apps[0].baseUrl, { events: 1000, intervalMs: 10 });
    const reader = new SseReader(`${apps[2].baseUrl}/streams/${id}`);
    await reader.waitFor((r) => r.events.length >= 2, STUCK_MS);
    const texts = ['first', 'second', 'third'];
    const answers = [];
    for (const text of texts) answers.push(await interject(apps[1], id, { text }));
    expect(answers.map((response) => response.status)).toEqual([202, 202, 202]);
    const woven = () =>
      reader.events
        .filter((event) => event.event === 'text_delta')
        .map((event) => JSON.parse(event.data) as { text: string; interjection?: boolean })
        .filter((item) => item.interjection)
        .map((item) => item.text)
        .join('');
    await reader.waitFor(() => woven().includes('third'), STUCK_MS);
    // In order, each once.
    expect(woven().match(/first|second|third/g)).toEqual(texts);
    expect((await fetch(`${apps[1].baseUrl}/streams/${id}`, { method: 'DELETE' })).status).toBe(200);
    await reader.done;
    expect((await interject(apps[2], id, { text: 'late' })).status).toBe(409);

    const idle = await createStream(apps[0].baseUrl, { events: 1, startDelayMs: 10_000 });
    expect(await (await interject(apps[1], idle.id, { text: 'x'.repeat(40_000) })).json()).toEqual({
      queued_bytes: 40_000,
    });
    expect((await interject(apps[2], idle.id, { text: 'y'.repeat(40_000) })).status).toBe(413);
    await fetch(`${apps[2].baseUrl}/streams/${idle.id}`, { method: 'DELETE' });
  });

  it('when one instance is SIGKILLed, its streams end with the error event on the others; the rest go on', async () => {
    const [victim, ...survivors] = apps;
    const doomed = await createStream(victim.baseUrl, { events: 10_000, intervalMs: 20 });
    const healthy = await createStream(survivors[0].baseUrl, { events: 120, intervalMs: 20 });
    const path = (url: string) => new URL(url).pathname;
    const orphans = survivors.map((app) => new SseReader(`${app.baseUrl}${path(doomed.url)}`));
    const others = survivors.map((app) => new SseReader(`${app.baseUrl}${path(healthy.url)}`));
    await Promise.all(orphans.map((reader) => reader.waitFor((r) => r.events.length >= 5)));
    await victim.stop('SIGKILL');
    // Once its lease (1.5 s) has run out, the survivors end its streams: 10 s is far past it, and
    // fails only for clients that are never told (e.g. a follower that drops the final event).
    await within(Promise.all(orphans.map((reader) => reader.done)), 10_000, () =>
      orphans.map((reader) => `${reader.events.length} events, last ${reader.lastEventId}`).join('; '),
    );
    expect(orphans).toHaveLength(2);
    for (const reader of orphans) {
      const last = reader.events.at(-1)!;
      expect(last.event).toBe('error');
      expect(JSON.parse(last.data)).toMatchObject({ status: 'failed', reason: 'producer_lost' });
      const sequences = reader.events.map((event) => sequenceOf(event.id!));
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => i + 1));
    }
    // The healthy stream (120 events, 20 ms apart) ends on its producer, then at once on the other.
    await within(others[0].done, 15_000, () => `producer's client: ${others[0].events.length} events`);
    await within(others[1].done, 5_000, () => `follower's client: ${others[1].events.length} events`);
    expect(others).toHaveLength(2);
    for (const reader of others) {
      expect(reader.events.at(-1)!.event).toBe('done');
      expect(reader.events).toHaveLength(121);
    }
  }, 60_000);
});
