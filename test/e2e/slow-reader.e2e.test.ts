import { SseReader } from '../support/sse-reader.js';
import { createStream, eventually, getStats } from '../support/sample-app.js';
import { spawnSampleApp, type SpawnedApp } from '../support/spawned-app.js';

const MiB = 1024 * 1024;
const EVENTS = 1200;
const SIZE = 50_000; // about 60 MB through the stream: far more than socket buffers and Nest's 4 MiB cap
/**
 * How far behind a backed-up client may fall before it is cut. The three readers that keep up share
 * one Jest process with 180 MB to parse; on a loaded CI machine one of them fell the default 4 MiB
 * (80 events, under 0.2 s of this stream) behind and was cut too. 24 MiB gives them seconds of slack,
 * and the reader that stops reading is still cut well before the stream ends.
 */
const MAX_BACKLOG = 24 * MiB;

/** Sequences of a reader's events (epoch-N), which must be consecutive from `from`. */
function expectConsecutive(reader: SseReader, from: number): number {
  const sequences = reader.events.map((event) => Number(event.id!.split('-')[1]));
  expect(sequences).toEqual(sequences.map((_, i) => from + i));
  return sequences.at(-1) ?? from - 1;
}

describe.each(['express', 'fastify'])('a reader that stops reading (%s, built sample app process)', (adapter) => {
  let app: SpawnedApp;
  beforeAll(async () => {
    app = await spawnSampleApp(
      {
        HTTP_ADAPTER: adapter,
        RETENTION_MS: '1500',
        BUFFER_MAX_BYTES: String(128 * MiB),
        MAX_CLIENT_BACKLOG_BYTES: String(MAX_BACKLOG),
      },
      ['--expose-gc'],
    );
  });
  afterAll(async () => {
    await app.stop();
  });

  it('is cut while the others finish, resumes without loss, and its memory is released', async () => {
    const baseline = (await getStats(app.baseUrl, true)).memory as { heapUsed: number };
    const { url } = await createStream(app.baseUrl, { events: EVENTS, size: SIZE, intervalMs: 2, startDelayMs: 200 });
    const slow = new SseReader(url);
    const readers = [new SseReader(url), new SseReader(url), new SseReader(url)];
    await slow.waitFor((reader) => reader.events.length >= 1);
    slow.pause();

    await Promise.all(readers.map((reader) => reader.done));
    for (const reader of readers) {
      expectConsecutive(reader, 1);
      expect(reader.events).toHaveLength(EVENTS + 1);
      expect(reader.events.at(-1)!.event).toBe('done');
    }
    // The server let go of the slow reader although it never read again.
    await eventually(async () => (await getStats(app.baseUrl)).clients === 0, 15_000);
    // The engine cut it (Nest's own 4 MiB queue never filled: catch-up and live are paced).
    expect((await getStats(app.baseUrl)).slowClientDisconnects).toBe(1);
    expect(app.output()).toMatch(/cut a client that is not keeping up/);
    expect(app.output()).not.toMatch(/not reading its events/);

    // What it had been sent is a prefix without holes; the rest comes on reconnect.
    slow.destroy();
    await slow.done;
    const lastSeen = expectConsecutive(slow, 1);
    expect(lastSeen).toBeLessThan(EVENTS);
    // It was cut for falling behind, not for anything else: more than the bound was sent after it.
    expect((EVENTS - lastSeen) * SIZE).toBeGreaterThan(MAX_BACKLOG);
    const resumed = new SseReader(url, { 'last-event-id': slow.lastEventId! });
    await resumed.done;
    expect(resumed.events[0].event).not.toBe('reset');
    expect(expectConsecutive(resumed, lastSeen + 1)).toBe(EVENTS + 1);

    // Once the stream has expired, the process is back near its starting heap.
    await eventually(async () => (await getStats(app.baseUrl)).streams === 0, 10_000);
    const after = (await getStats(app.baseUrl, true)).memory as { heapUsed: number };
    expect(after.heapUsed - baseline.heapUsed).toBeLessThan(16 * MiB);
  });
});
