import { StreamRegistry } from 'nestjs-meridian-stream';
import { within } from '../support/eventually.js';
import { SseReader } from '../support/sse-reader.js';
import { createStream, eventually, startSampleApp } from '../support/sample-app.js';

describe.each(['express', 'fastify'] as const)('app.close() with clients connected (%s)', (adapter) => {
  it('ends every response with a final event and stops the producers', async () => {
    const server = await startSampleApp(adapter, { shutdownGraceMs: 10_000 });
    const registry = server.app.get(StreamRegistry);
    const streams = await Promise.all(
      [1, 2].map(() => createStream(server.baseUrl, { events: 100_000, intervalMs: 20 })),
    );
    const readers = streams.flatMap(({ url }) => Array.from({ length: 10 }, () => new SseReader(url)));
    await Promise.all(readers.map((reader) => reader.waitFor((r) => r.events.length >= 2)));

    // Every response ends by itself, so app.close() does not wait for the 10 s grace period (the
    // behaviour is "before the grace period"; half of it is the margin).
    await within(
      server.close(),
      5_000,
      () => `app.close() still waiting, ${readers.filter((reader) => !reader.ended).length} responses open`,
    );

    await Promise.all(readers.map((reader) => reader.done));
    for (const reader of readers) {
      expect(reader.ended).toBe(true);
      const last = reader.events.at(-1)!;
      expect(last.event).toBe('cancelled');
      expect(JSON.parse(last.data)).toEqual({ status: 'cancelled', reason: 'shutdown' });
    }
    for (const { id } of streams) expect(registry.get(id)?.signal.aborted).toBe(true);
  });

  it('does not hang on a client that stopped reading: it is cut after the grace period', async () => {
    const warnings: string[] = [];
    const logger = { log() {}, error() {}, warn: (message: string) => warnings.push(message) };
    const server = await startSampleApp(adapter, { shutdownGraceMs: 1_000, logger });
    // A finished stream: its catch-up is paced by the connection and never counts as "slow",
    // so only shutdown can end a client that stopped reading it.
    const { url } = await createStream(server.baseUrl, { events: 600, intervalMs: 0, size: 50_000 });
    const registry = server.app.get(StreamRegistry);
    await eventually(() => registry.stats().byState.completed === 1);
    const stalled = new SseReader(url);
    const reading = new SseReader(url);
    await stalled.waitFor((r) => r.events.length >= 1);
    stalled.pause();
    await reading.done;
    expect(reading.events.at(-1)!.event).toBe('done');

    await server.close();

    expect(warnings.filter((message) => /Cut 1 SSE connection/.test(message))).toHaveLength(1);
    expect(registry.stats().slowClientDisconnects).toBe(0);
    stalled.destroy();
    await stalled.done;
    expect(stalled.ended).toBe(true);
  });
});
