import { EventSource } from 'eventsource';
import { CuttingProxy } from '../support/cutting-proxy.js';
import { createStream, eventually, getStats, startSampleApp, type RunningApp } from '../support/sample-app.js';

/** One EventSource client recording what it receives, across its own reconnects. */
class Recorder {
  readonly indexes: number[] = [];
  readonly ids: string[] = [];
  readonly finals: string[] = [];
  opens = 0;
  readonly source: EventSource;
  readonly finished: Promise<void>;

  constructor(url: string, closeOnDone = true) {
    this.source = new EventSource(url);
    this.source.addEventListener('open', () => this.opens++);
    this.source.addEventListener('text_delta', (event) => {
      this.indexes.push((JSON.parse(event.data) as { index: number }).index);
      this.ids.push(event.lastEventId);
    });
    this.finished = new Promise((resolve) => {
      this.source.addEventListener('done', (event) => {
        this.finals.push(event.data);
        this.ids.push(event.lastEventId);
        if (closeOnDone) this.source.close();
        resolve();
      });
    });
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Ids of one stream must be `<epoch>-1`, `<epoch>-2`, ... with no gap and no repeat. */
function expectConsecutiveIds(ids: string[]): void {
  const epoch = ids[0].split('-')[0];
  expect(ids).toEqual(ids.map((_, i) => `${epoch}-${i + 1}`));
}

describe.each(['express', 'fastify'] as const)('EventSource clients (%s)', (adapter) => {
  let server: RunningApp;
  let port: number;
  beforeAll(async () => {
    server = await startSampleApp(adapter);
    port = Number(new URL(server.baseUrl).port);
  });
  afterAll(() => server.close());

  it('fans out to 200 clients: each sees every event once, in order', async () => {
    const { url } = await createStream(server.baseUrl, { events: 50, intervalMs: 10, startDelayMs: 300 });
    const clients = range(200).map(() => new Recorder(url));
    await Promise.all(clients.map((client) => client.finished));
    for (const client of clients) {
      expect(client.indexes).toEqual(range(50));
      expect(client.finals).toEqual(['{"status":"completed"}']);
      expectConsecutiveIds(client.ids);
    }
    await eventually(async () => (await getStats(server.baseUrl)).clients === 0);
  });

  it('survives repeated network cuts: EventSource resumes by itself with no gap and no duplicate', async () => {
    const proxy = await new CuttingProxy(port).listen();
    try {
      const { url } = await createStream(server.baseUrl, { events: 300, intervalMs: 2 });
      const proxied = url.replace(`:${port}/`, `:${proxy.port}/`);
      const clients = range(20).map(() => new Recorder(proxied));
      let cutting = true;
      const cutter = (async () => {
        // Cut at irregular moments while the stream runs: mid-replay, mid-live, between events.
        for (let i = 0; cutting && i < 40; i++) {
          await new Promise((resolve) => setTimeout(resolve, 15 + ((i * 37) % 60)));
          proxy.cutAll();
        }
      })();
      await Promise.all(clients.map((client) => client.finished));
      cutting = false;
      await cutter;
      expect(proxy.cuts).toBeGreaterThan(3);
      for (const client of clients) {
        expect(client.indexes).toEqual(range(300));
        expectConsecutiveIds(client.ids);
      }
      expect(clients.some((client) => client.opens > 1)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('gives a late joiner the whole history, and resumes after ?lastEventId= given in the URL', async () => {
    const { url } = await createStream(server.baseUrl, { events: 30, intervalMs: 0 });
    const early = new Recorder(url);
    await early.finished;
    const late = new Recorder(url);
    await late.finished;
    expect(late.indexes).toEqual(range(30));
    expect(late.ids).toEqual(early.ids);
    const resumed = new Recorder(`${url}?lastEventId=${early.ids[9]}`);
    await resumed.finished;
    expect(resumed.indexes).toEqual(range(30).slice(10));
    expect(resumed.ids).toEqual(early.ids.slice(10));
  });

  it('stops reconnecting once it has the final event: the server answers 204', async () => {
    const { url } = await createStream(server.baseUrl, { events: 3, intervalMs: 0 });
    const client = new Recorder(url, false);
    await client.finished;
    // The response ended after "done"; EventSource reconnects with the final id and gets 204.
    await eventually(() => client.source.readyState === EventSource.CLOSED, 5_000);
    expect(client.opens).toBe(1);
    expect(client.indexes).toEqual([0, 1, 2]);
    expect(client.finals).toHaveLength(1);
  });
});
