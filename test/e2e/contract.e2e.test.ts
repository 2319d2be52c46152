import { readAll, SseReader } from '../support/sse-reader.js';
import { createStream, eventually, getStats, startSampleApp, type RunningApp } from '../support/sample-app.js';

const dataOf = (reader: SseReader, type = 'text_delta') =>
  reader.events.filter((event) => event.event === type).map((event) => JSON.parse(event.data));

describe.each(['express', 'fastify'] as const)('sample app HTTP contract (%s)', (adapter) => {
  let server: RunningApp;
  beforeAll(async () => {
    server = await startSampleApp(adapter, { heartbeatMs: 150 });
  });
  afterAll(() => server.close());

  it('streams every event with id, event and data, then ends after the final done event', async () => {
    const { url } = await createStream(server.baseUrl, { events: 5, intervalMs: 5, size: 40 });
    const reader = await readAll(url);
    expect(reader.status).toBe(200);
    expect(reader.headers['content-type']).toMatch(/^text\/event-stream/);
    const types = reader.events.map((event) => event.event);
    expect(types).toEqual(['text_delta', 'text_delta', 'text_delta', 'text_delta', 'text_delta', 'done']);
    const [epoch] = reader.events[0].id!.split('-');
    expect(reader.events.map((event) => event.id)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `${epoch}-${n}`));
    const data = dataOf(reader);
    expect(data.map((item) => item.index)).toEqual([0, 1, 2, 3, 4]);
    for (const item of data) {
      expect(item.text).toHaveLength(40);
      expect(item.text.startsWith(`${item.index}:`)).toBe(true);
      expect(typeof item.t).toBe('number');
    }
    // The position marker is the first block: id-only, carrying the retry hint.
    expect(reader.blocks[0]).toEqual({ id: `${epoch}-0`, data: '', retry: 100 });
  });

  it('gives a late joiner the whole history, and a finished stream replays then ends', async () => {
    const { url } = await createStream(server.baseUrl, { events: 3, intervalMs: 0 });
    const first = await readAll(url);
    const late = await readAll(url);
    expect(late.events).toEqual(first.events);
    expect(dataOf(late).map((item) => item.index)).toEqual([0, 1, 2]);
  });

  it('resumes after Last-Event-ID given as header, as query, and prefers the header', async () => {
    const { url } = await createStream(server.baseUrl, { events: 6, intervalMs: 0 });
    const all = await readAll(url);
    const ids = all.events.map((event) => event.id!);
    const byHeader = await readAll(url, { 'last-event-id': ids[1] });
    expect(byHeader.events).toEqual(all.events.slice(2));
    const byQuery = await readAll(`${url}?lastEventId=${ids[3]}`);
    expect(byQuery.events).toEqual(all.events.slice(4));
    const both = await readAll(`${url}?lastEventId=${ids[0]}`, { 'last-event-id': ids[4] });
    expect(both.events).toEqual(all.events.slice(5));
  });

  it('answers 204 to a client that has seen the final event, 404 for an unknown stream', async () => {
    const { url } = await createStream(server.baseUrl, { events: 2, intervalMs: 0 });
    const all = await readAll(url);
    const finalId = all.events.at(-1)!.id!;
    const fullySeen = await fetch(url, { headers: { 'last-event-id': finalId } });
    expect(fullySeen.status).toBe(204);
    expect(await fullySeen.text()).toBe('');
    const missing = await fetch(`${server.baseUrl}/streams/does-not-exist`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toMatch(/does not exist/);
  });

  it('answers 400 for an unparsable id and for an id past the last one issued', async () => {
    const { url } = await createStream(server.baseUrl, { events: 2, intervalMs: 0 });
    const all = await readAll(url);
    const [epoch] = all.events[0].id!.split('-');
    for (const bad of ['garbage', `${epoch}-007`, `${epoch}-99`, 'x'.repeat(65), `${epoch}-1 `]) {
      const response = await fetch(`${url}?lastEventId=${encodeURIComponent(bad)}`);
      expect([bad, response.status]).toEqual([bad, 400]);
      expect(response.headers.get('content-type')).toMatch(/json/);
      expect(((await response.json()) as { message: string }).message).toMatch(/Invalid Last-Event-ID/);
    }
  });

  it('sends a reset event to an id of another epoch, then the whole stream', async () => {
    const { url } = await createStream(server.baseUrl, { events: 2, intervalMs: 0 });
    const reader = await readAll(url, { 'last-event-id': 'abc123-1' });
    expect(reader.events[0].event).toBe('reset');
    expect(JSON.parse(reader.events[0].data)).toMatchObject({ reason: 'unknown_epoch', lastEventId: 'abc123-1' });
    expect(dataOf(reader).map((item) => item.index)).toEqual([0, 1]);
  });

  it('ends a failing producer with the error event after failAfter events', async () => {
    const { url } = await createStream(server.baseUrl, { events: 10, intervalMs: 0, failAfter: 3 });
    const reader = await readAll(url);
    expect(dataOf(reader).map((item) => item.index)).toEqual([0, 1, 2]);
    const last = reader.events.at(-1)!;
    expect(last.event).toBe('error');
    expect(JSON.parse(last.data)).toEqual({
      status: 'failed',
      message: 'The producer failed after 3 events, as requested (failAfter).',
    });
    expect(reader.events.at(-1)!.id).toBe(reader.events[0].id!.replace(/-\d+$/, '-4'));
  });

  it('cancels with DELETE: connected clients get the final cancelled event', async () => {
    const { id, url } = await createStream(server.baseUrl, { events: 1000, intervalMs: 20 });
    const reader = new SseReader(url);
    await reader.waitFor((r) => r.events.length >= 2);
    const response = await fetch(`${server.baseUrl}/streams/${id}`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ stream_id: id, state: 'cancelled' });
    await reader.done;
    expect(reader.events.at(-1)!.event).toBe('cancelled');
    expect(JSON.parse(reader.events.at(-1)!.data)).toEqual({ status: 'cancelled', reason: 'cancelled' });
    expect((await fetch(`${server.baseUrl}/streams/nope`, { method: 'DELETE' })).status).toBe(404);
  });

  it('soft-cancels with DELETE ?soft=1: clients get the final cancelled event with soft: true; again is harmless', async () => {
    const { id, url } = await createStream(server.baseUrl, { events: 1000, intervalMs: 20 });
    const reader = new SseReader(url);
    await reader.waitFor((r) => r.events.length >= 2);
    const response = await fetch(`${server.baseUrl}/streams/${id}?soft=1`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ stream_id: id, state: 'cancelled', soft: true });
    await reader.done;
    expect(reader.events.at(-1)!.event).toBe('cancelled');
    expect(JSON.parse(reader.events.at(-1)!.data)).toEqual({ status: 'cancelled', reason: 'cancelled', soft: true });
    const again = await fetch(`${server.baseUrl}/streams/${id}?soft=1`, { method: 'DELETE' });
    expect(await again.json()).toEqual({ stream_id: id, state: 'cancelled', soft: true });
    expect((await fetch(`${server.baseUrl}/streams/nope?soft=1`, { method: 'DELETE' })).status).toBe(404);
  });

  it('interjects with POST /streams/:id/interjections: 202 { queued_bytes }; the demo producer weaves the text in', async () => {
    const interject = (id: string, body: unknown) =>
      fetch(`${server.baseUrl}/streams/${id}/interjections`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const { id, url } = await createStream(server.baseUrl, { events: 1000, intervalMs: 20 });
    const reader = new SseReader(url);
    await reader.waitFor((r) => r.events.length >= 2);
    const response = await interject(id, { text: 'and make it rhyme' });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ queued_bytes: 17 });
    await reader.waitFor((r) => dataOf(r).some((item) => item.interjection === true));
    const woven = dataOf(reader).filter((item) => item.interjection === true);
    expect(woven).toHaveLength(1);
    expect(woven[0].text).toContain('and make it rhyme');
    expect((await interject(id, { text: '   ' })).status).toBe(400);
    expect((await interject(id, { text: 'x', mode: 'prepend' })).status).toBe(400);
    expect((await interject(id, { mode: 'append' })).status).toBe(400);
    await fetch(`${server.baseUrl}/streams/${id}`, { method: 'DELETE' });
    await reader.done;
    expect((await interject(id, { text: 'too late' })).status).toBe(409);
    expect((await interject('nope', { text: 'hi' })).status).toBe(404);

    // Past the 64 KiB cap (nothing drains while the producer waits to start): 413.
    const idle = await createStream(server.baseUrl, { events: 1, startDelayMs: 5_000 });
    expect((await interject(idle.id, { text: 'x'.repeat(40_000) })).status).toBe(202);
    const tooLarge = await interject(idle.id, { text: 'y'.repeat(40_000), mode: 'append' });
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { message: string }).message).toMatch(/interjectionMaxBytes/);
    expect(await (await interject(idle.id, { text: 'short', mode: 'replace' })).json()).toEqual({ queued_bytes: 5 });
    await fetch(`${server.baseUrl}/streams/${idle.id}`, { method: 'DELETE' });
  });

  it('sends heartbeat comments on an idle stream', async () => {
    const { url } = await createStream(server.baseUrl, { events: 1, startDelayMs: 2_000 });
    const reader = new SseReader(url);
    await reader.waitFor((r) => r.comments.filter((c) => c === 'heartbeat').length >= 2, 5_000);
    expect(reader.events).toHaveLength(0);
    reader.destroy();
  });

  it('finds the running answer of a chat with GET /chats/:chatId/stream (204 when none runs)', async () => {
    const chat = `chat-${adapter}`;
    const activeOf = () => fetch(`${server.baseUrl}/chats/${chat}/stream`);
    expect((await activeOf()).status).toBe(204);
    const { id, url } = await createStream(server.baseUrl, { events: 30, intervalMs: 10, chatId: chat });
    const found = await activeOf();
    expect(found.status).toBe(200);
    expect(await found.json()).toEqual({ stream_id: id, stream_url: `/streams/${id}` });
    await readAll(url);
    await eventually(async () => (await activeOf()).status === 204);
  });

  it('rejects bad bodies with 400 and a message', async () => {
    const bodies = [
      '{"events": -1}',
      '{"intervalMs": "fast"}',
      '[1,2]',
      '{"size": 1.5}',
      '{"bogus": 1}',
      '{not json',
      '{"chatId": ""}',
      '{"chatId": 5}',
    ];
    for (const body of bodies) {
      const response = await fetch(`${server.baseUrl}/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect([body, response.status]).toEqual([body, 400]);
      expect(typeof ((await response.json()) as { message: unknown }).message).toBe('string');
    }
  });

  it('reports health and stats, and the client count returns to zero', async () => {
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
    const { url } = await createStream(server.baseUrl, { events: 100, intervalMs: 20 });
    const readers = [new SseReader(url), new SseReader(url), new SseReader(url)];
    await Promise.all(readers.map((reader) => reader.waitFor((r) => r.events.length > 0)));
    const busy = await getStats(server.baseUrl);
    expect(busy.clients).toBe(3);
    expect(busy.streams).toBeGreaterThanOrEqual(1);
    expect(busy.memory).toEqual(expect.objectContaining({ rss: expect.any(Number), heapUsed: expect.any(Number) }));
    readers.forEach((reader) => reader.destroy());
    await eventually(async () => (await getStats(server.baseUrl)).clients === 0);
  });
});
