import { describe, expect, test } from '@jest/globals';
import { RATE_WINDOW_SECONDS, StreamMetrics } from '../../lib/core/stream-metrics.js';
import { StreamRegistry } from '../../lib/core/stream-registry.js';
import { StreamLimitError } from '../../lib/core/errors.js';

describe('StreamMetrics', () => {
  test('averages events and bytes per second over the last full window only', () => {
    let now = 1_000_000;
    const metrics = new StreamMetrics(() => now);
    for (let second = 0; second < 20; second++) {
      for (let i = 0; i < second; i++) metrics.event(100);
      now += 1000;
    }
    // Seconds 10..19 are the last full window: 10 + 11 + ... + 19 events.
    const events = (10 + 19) * 5;
    expect(metrics.rates()).toEqual({
      eventsPerSecond: events / RATE_WINDOW_SECONDS,
      bytesPerSecond: (events * 100) / RATE_WINDOW_SECONDS,
    });
    expect(metrics.eventsTotal).toBe((19 * 20) / 2);
    now += 60_000;
    expect(metrics.rates()).toEqual({ eventsPerSecond: 0, bytesPerSecond: 0 });
  });
});

describe('registry limits and stats', () => {
  test('maxClients counts every stream of the registry, and frees a place when a client leaves', () => {
    const registry = new StreamRegistry({ heartbeatMs: 0, maxClients: 2 });
    const [a, b] = [registry.create(), registry.create()];
    const first = a.observe().subscribe();
    b.observe().subscribe();
    expect(() => b.observe()).toThrow(StreamLimitError);
    expect(() => a.observe()).toThrow(/This instance reached maxClients \(2\)/);
    first.unsubscribe();
    expect(() => b.observe().subscribe()).not.toThrow();
    expect(registry.stats().clients).toBe(2);
  });

  test('rejects a bad maxClients or authorize with a message naming the option', () => {
    expect(() => new StreamRegistry({ maxClients: 0 })).toThrow(/maxClients must be a whole number >= 1/);
    expect(() => new StreamRegistry({ authorize: 'yes' as never })).toThrow(/authorize must be a function/);
    expect(() => new StreamRegistry().create(undefined, { authorize: 1 as never })).toThrow(
      /authorize must be a function/,
    );
  });

  test('only an answer of exactly true authorizes', async () => {
    const registry = new StreamRegistry({ authorize: (request) => (request as { ok: unknown }).ok as boolean });
    const stream = registry.create(undefined, { authorize: async () => true });
    expect(await registry.isAuthorized({ ok: true }, stream)).toBe(true);
    expect(await registry.isAuthorized({ ok: 'yes' }, stream)).toBe(false);
    const refusing = registry.create(undefined, { authorize: () => false });
    expect(await registry.isAuthorized({ ok: true }, refusing)).toBe(false);
  });
});
