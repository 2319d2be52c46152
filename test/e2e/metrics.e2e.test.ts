import { createStream } from '../support/sample-app.js';
import { scrape } from '../support/prometheus-text.js';
import { redisAvailable, uniquePrefix } from '../support/redis.js';
import { spawnSampleApp, type SpawnedApp } from '../support/spawned-app.js';
import { readAll, type SseReader } from '../support/sse-reader.js';

const describeIfRedis = redisAvailable() ? describe : describe.skip;
const EVENTS = 50;

/** Events a client was written by the stream's pump: its events without the reset preamble. */
const delivered = (reader: SseReader) => reader.events.filter((event) => event.event !== 'reset');
const bytesOf = (events: { data: string }[]) => events.reduce((sum, event) => sum + Buffer.byteLength(event.data), 0);

/**
 * The sample app's GET /metrics, scraped after real SSE traffic on two processes sharing Redis:
 * a stream produced on the first, read fresh there and on the second (followed through the bus),
 * resumed from memory, from the store, with a reset, through the bus, and once fully delivered.
 */
describeIfRedis.each(['express', 'fastify'])('GET /metrics of the sample app (%s, two processes)', (adapter) => {
  const apps: SpawnedApp[] = [];
  beforeAll(async () => {
    const env = { REDIS_URL: process.env.REDIS_URL!, REDIS_PREFIX: uniquePrefix(), HTTP_ADAPTER: adapter };
    apps.push(await spawnSampleApp(env), await spawnSampleApp(env));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop('SIGKILL')));
  });

  it('counts resumes by outcome, events and bytes sent, store writes, bus lag and first events', async () => {
    const [producer, follower] = apps;
    const { id, url } = await createStream(producer.baseUrl, { events: EVENTS, intervalMs: 20 });
    const there = `${follower.baseUrl}/streams/${id}`;
    // Both read while the stream runs: the second instance follows it live through the bus.
    const [fresh, freshThere] = await Promise.all([readAll(url), readAll(there)]);
    expect(fresh.events).toHaveLength(EVENTS + 1);
    expect(freshThere.events.map((event) => event.id)).toEqual(fresh.events.map((event) => event.id));
    const epoch = fresh.events[0].id!.split('-')[0];
    const viaBus = await readAll(there, { 'last-event-id': `${epoch}-5` });
    const fromMemory = await readAll(url, { 'last-event-id': `${epoch}-2` });
    expect((await fetch(`${url}/persist`, { method: 'POST' })).status).toBe(200);
    const fromStore = await readAll(url, { 'last-event-id': `${epoch}-2` });
    const reset = await readAll(url, { 'last-event-id': `${epoch === 'a1' ? 'b1' : 'a1'}-7` });
    const fullyDelivered = await readAll(url, { 'last-event-id': fresh.events.at(-1)!.id! });
    expect([fromMemory, fromStore, reset, viaBus].map((reader) => reader.headers['meridian-resume'])).toEqual([
      'memory',
      'store',
      'reset',
      'bus',
    ]);
    expect(fullyDelivered.status).toBe(204);

    const here = await scrape(`${producer.baseUrl}/metrics`);
    const readers = [fresh, fromMemory, fromStore, reset];
    const sent = readers.flatMap(delivered);
    expect(sent).toHaveLength(EVENTS + 1 + 2 * (EVENTS - 1) + EVENTS + 1);
    expect(here).toMatchObject({
      'meridian_stream_resumes_total{outcome="fresh"}': 1,
      'meridian_stream_resumes_total{outcome="memory"}': 1,
      'meridian_stream_resumes_total{outcome="store"}': 1,
      'meridian_stream_resumes_total{outcome="bus"}': 0,
      'meridian_stream_resumes_total{outcome="reset"}': 1,
      'meridian_stream_resumes_total{outcome="fully_delivered"}': 1,
      meridian_stream_streams_created_total: 1,
      'meridian_stream_streams{state="completed"}': 1,
      'meridian_stream_streams{state="running"}': 0,
      meridian_stream_clients: 0,
      meridian_stream_events_total: EVENTS + 1,
      meridian_stream_event_bytes_total: bytesOf(fresh.events),
      meridian_stream_client_events_total: sent.length,
      meridian_stream_client_bytes_total: bytesOf(sent),
      meridian_stream_store_written_events_total: EVENTS + 1,
      meridian_stream_unstored_events: 0,
      meridian_stream_first_event_seconds_count: 1,
      meridian_stream_bus_read_lag_seconds_count: 0,
      meridian_stream_slow_client_disconnects_total: 0,
    });
    expect(here.meridian_stream_store_write_duration_seconds_count).toBeGreaterThanOrEqual(1);
    expect(here.meridian_stream_first_event_seconds_sum).toBeGreaterThan(0);

    const followed = await scrape(`${follower.baseUrl}/metrics`);
    expect(followed).toMatchObject({
      'meridian_stream_resumes_total{outcome="fresh"}': 1,
      'meridian_stream_resumes_total{outcome="bus"}': 1,
      'meridian_stream_resumes_total{outcome="memory"}': 0,
      'meridian_stream_located_total{source="bus"}': 1,
      meridian_stream_streams_created_total: 0,
      meridian_stream_events_total: EVENTS + 1,
      meridian_stream_client_events_total: freshThere.events.length + viaBus.events.length,
      meridian_stream_first_event_seconds_count: 0,
      meridian_stream_store_written_events_total: 0,
    });
    // Events received live through the bus (not the first read of what it held) are timed.
    const lagged = followed.meridian_stream_bus_read_lag_seconds_count;
    expect(lagged).toBeGreaterThan(0);
    expect(lagged).toBeLessThanOrEqual(EVENTS + 1);
    expect(followed['meridian_stream_bus_read_lag_seconds_bucket{le="+Inf"}']).toBe(lagged);
  }, 30_000);
});
