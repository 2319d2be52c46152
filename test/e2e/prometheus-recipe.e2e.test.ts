import 'reflect-metadata';
import path from 'node:path';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { register } from 'prom-client';
import { StreamingModule, StreamRegistry } from 'nestjs-meridian-stream';
import {
  MetricsAlreadyRegisteredError,
  registerStreamMetrics,
  StreamingMetricsModule,
} from 'nestjs-meridian-stream/prometheus';
import { scrape } from '../support/prometheus-text.js';
import { ROOT, spawnApp, type SpawnedApp } from '../support/spawned-app.js';
import { readAll } from '../support/sse-reader.js';

const RECIPE_APP = path.join(ROOT, 'test/e2e/prometheus-recipe-app.ts');

describe('the @willsoto/nestjs-prometheus recipe of docs/metrics.md, as its own process', () => {
  let app: SpawnedApp;
  let baseUrl: string;
  beforeAll(async () => {
    const tsconfig = path.join(ROOT, 'test/memory/tsconfig.app.json');
    app = await spawnApp(RECIPE_APP, { TSX_TSCONFIG_PATH: tsconfig }, ['--import', 'tsx']);
    baseUrl = app.baseUrl;
  }, 40_000);
  afterAll(() => app?.stop());

  it('serves the streaming metrics on GET /metrics, next to the process metrics, and they follow the traffic', async () => {
    const before = await scrape(`${baseUrl}/metrics`);
    expect(before).toMatchObject({
      'meridian_stream_resumes_total{outcome="fresh"}': 0,
      meridian_stream_events_total: 0,
      meridian_stream_clients: 0,
    });
    // @willsoto/nestjs-prometheus's default metrics: this is its endpoint, on the global registry.
    expect(before.process_cpu_user_seconds_total).toBeGreaterThan(0);

    const { id } = (await (await fetch(`${baseUrl}/answers`, { method: 'POST' })).json()) as { id: string };
    const url = `${baseUrl}/answers/${id}`;
    const fresh = await readAll(url);
    expect(fresh.events.map((event) => event.event)).toEqual(['token', 'token', 'token', 'token', 'token', 'done']);
    const ids = fresh.events.map((event) => event.id!);
    const resumed = await readAll(url, { 'last-event-id': ids[2] });
    const reset = await readAll(url, { 'last-event-id': `${ids[0].startsWith('a1-') ? 'b1' : 'a1'}-3` });
    const delivered = await readAll(url, { 'last-event-id': ids[5] });
    expect([fresh, resumed, reset].map((reader) => reader.headers['meridian-resume'])).toEqual([
      'fresh',
      'memory',
      'reset',
    ]);
    expect(delivered.status).toBe(204);

    const after = await scrape(`${baseUrl}/metrics`);
    const dataBytes = fresh.events.reduce((sum, event) => sum + Buffer.byteLength(event.data), 0);
    expect(after).toMatchObject({
      'meridian_stream_resumes_total{outcome="fresh"}': 1,
      'meridian_stream_resumes_total{outcome="memory"}': 1,
      'meridian_stream_resumes_total{outcome="reset"}': 1,
      'meridian_stream_resumes_total{outcome="store"}': 0,
      'meridian_stream_resumes_total{outcome="fully_delivered"}': 1,
      'meridian_stream_streams{state="completed"}': 1,
      meridian_stream_streams_created_total: 1,
      meridian_stream_events_total: 6,
      meridian_stream_event_bytes_total: dataBytes,
      // The fresh client and the reset one read all six; the resumed one the last three.
      meridian_stream_client_events_total: 6 + 3 + 6,
      meridian_stream_first_event_seconds_count: 1,
      meridian_stream_store_write_duration_seconds_count: 0,
      meridian_stream_clients: 0,
    });
  });
});

/** The module in a Nest app of its own (without @willsoto/nestjs-prometheus), on prom-client's global registry. */
describe('StreamingMetricsModule', () => {
  @Module({ imports: [StreamingModule.forRoot({ heartbeatMs: 0, logger: false }), StreamingMetricsModule.forRoot()] })
  class MetricsAppModule {}

  let app: INestApplication;
  beforeAll(async () => {
    app = await NestFactory.create(MetricsAppModule, { logger: false });
    await app.init();
  });
  afterAll(() => app?.close());

  it('refuses to register twice on one registry, naming the fix, and takes another prefix', () => {
    const streams = app.get(StreamRegistry);
    expect(() => registerStreamMetrics(streams)).toThrow(MetricsAlreadyRegisteredError);
    expect(() => registerStreamMetrics(streams)).toThrow(
      /own prom-client Registry \(option registry\) or another prefix/,
    );
    const second = registerStreamMetrics(streams, { prefix: 'second_' });
    expect(register.getSingleMetric('second_clients')).toBeDefined();
    second.unregister();
    expect(register.getSingleMetric('second_clients')).toBeUndefined();
  });

  it('removes its metrics from the registry when the app closes', async () => {
    const names = ['meridian_stream_clients', 'meridian_stream_resumes_total', 'meridian_stream_bus_read_lag_seconds'];
    expect(names.map((name) => register.getSingleMetric(name) !== undefined)).toEqual([true, true, true]);
    await app.close();
    expect(names.map((name) => register.getSingleMetric(name) !== undefined)).toEqual([false, false, false]);
  });
});
