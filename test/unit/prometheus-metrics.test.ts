import { jest } from '@jest/globals';
import { Registry } from 'prom-client';
import { StreamRegistry, type StreamEvent } from 'nestjs-meridian-stream';
import { registerStreamMetrics } from 'nestjs-meridian-stream/prometheus';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { openTestDatabase } from '../support/databases.js';
import { parsePrometheusText } from '../support/prometheus-text.js';

async function samples(registry: Registry): Promise<Record<string, number>> {
  return parsePrometheusText(await registry.metrics());
}

describe('registerStreamMetrics', () => {
  it('counts a client cut for not keeping up', async () => {
    const streams = new StreamRegistry({ heartbeatMs: 0, maxClientBacklogBytes: 1_000 });
    const metrics = new Registry();
    registerStreamMetrics(streams, { registry: metrics });
    const stream = streams.create();
    const written: StreamEvent[] = [];
    // A consumer that is backed up from its first event on.
    stream.attach({ write: (event) => (written.push(event), false), end: () => undefined });
    expect((await samples(metrics)).meridian_stream_slow_client_disconnects_total).toBe(0);
    for (let i = 0; i < 20; i++) stream.send({ data: 'x'.repeat(100) });
    expect(await samples(metrics)).toMatchObject({
      meridian_stream_slow_client_disconnects_total: 1,
      meridian_stream_clients: 0,
      meridian_stream_client_events_total: written.length,
      meridian_stream_events_total: 20,
    });
    expect(written.length).toBeGreaterThan(0);
  });

  it('reads stats() once per scrape, whatever the number of metrics', async () => {
    const streams = new StreamRegistry({ heartbeatMs: 0 });
    const metrics = new Registry();
    registerStreamMetrics(streams, { registry: metrics });
    const stats = jest.spyOn(streams, 'stats');
    await metrics.metrics();
    expect(stats).toHaveBeenCalledTimes(1);
    await metrics.metrics();
    expect(stats).toHaveBeenCalledTimes(2);
  });

  it('times the first event of a stream from its creation, and stops listening once unregistered', async () => {
    const streams = new StreamRegistry({ heartbeatMs: 0 });
    const metrics = new Registry();
    const registered = registerStreamMetrics(streams, { registry: metrics, prefix: 'app_' });
    const stream = streams.create();
    stream.send({ data: 'first' });
    stream.send({ data: 'second' });
    expect(await samples(metrics)).toMatchObject({ app_first_event_seconds_count: 1, app_events_total: 2 });
    registered.unregister();
    expect(await metrics.metrics()).toBe('\n');
    // A registration after unregister() starts from the registry's totals, and hears only new timings.
    const again = registerStreamMetrics(streams, { registry: metrics, prefix: 'app_' });
    streams.create().send({ data: 'other' });
    expect(await samples(metrics)).toMatchObject({ app_first_event_seconds_count: 1, app_events_total: 3 });
    again.unregister();
  });

  it('shows events the store does not hold yet, and times each write to it', async () => {
    const db = await openTestDatabase('sqlite');
    try {
      const store = new TypeOrmEventStore(db.dataSource);
      // No write on its own: only persist() writes.
      const streams = new StreamRegistry({
        heartbeatMs: 0,
        store,
        persistEveryEvents: 0,
        persistEveryMs: 0,
        persistOnFinish: false,
      });
      const metrics = new Registry();
      registerStreamMetrics(streams, { registry: metrics });
      const stream = streams.create();
      for (let i = 0; i < 5; i++) stream.send({ data: `event ${i}` });
      expect(await samples(metrics)).toMatchObject({
        meridian_stream_unstored_events: 5,
        meridian_stream_store_write_duration_seconds_count: 0,
      });
      await stream.persist();
      stream.send({ data: 'one more' });
      expect(await samples(metrics)).toMatchObject({
        meridian_stream_unstored_events: 1,
        meridian_stream_store_write_duration_seconds_count: 1,
        meridian_stream_store_written_events_total: 5,
      });
      await stream.persist();
      expect(await samples(metrics)).toMatchObject({
        meridian_stream_unstored_events: 0,
        meridian_stream_store_write_duration_seconds_count: 2,
        meridian_stream_store_written_events_total: 6,
      });
      stream.cancel();
      await streams.shutdown();
    } finally {
      await db.close();
    }
  });
});
