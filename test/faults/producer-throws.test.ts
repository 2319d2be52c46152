import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, throwError } from 'rxjs';
import { PublicStreamError, type StreamProducer } from 'nestjs-meridian-stream';
import { captureLogs, healthy, startFaultApp, type CapturedLogs, type FaultApp } from '../support/fault-app.js';
import { expectExactRun, RawSseClient, readToEnd, sequenceOf } from '../support/fault-sse.js';
import { eventually } from '../support/eventually.js';

/*
 * Issue 7, fault "producer throws". Whatever the producer is (work function, Observable,
 * AsyncIterable) and whenever it throws (synchronously, before its first event, or after some),
 * every client gets every event once, in order, then exactly one final `error` event; clients
 * that come later replay the same sequence, error included; one that has seen the error gets
 * 204. The error is logged with its stack, never shown to clients unless it is a
 * PublicStreamError. The process keeps serving and no client stays attached.
 */

const RETENTION_MS = 1_500;
const GENERIC = { status: 'failed', message: 'The stream failed.' };

describe('a producer that throws (real sockets, Nest app)', () => {
  let server: FaultApp;
  let logs: CapturedLogs;
  beforeAll(async () => {
    logs = captureLogs();
    server = await startFaultApp({ retentionMs: RETENTION_MS, logger: logs.logger });
  });
  afterAll(() => server.close());

  /** Late clients: from the start, from the middle, and one that saw the final event. */
  async function expectReplays(streamId: string, total: number, finalData: object): Promise<void> {
    const url = server.url(streamId);
    const whole = await readToEnd(url);
    expect(whole.status).toBe(200);
    expectExactRun(whole.events, { final: 'error', label: `${streamId} late, no id` });
    expect(whole.events).toHaveLength(total);
    expect(JSON.parse(whole.events.at(-1)!.data)).toEqual(finalData);
    if (total > 2) {
      const middle = whole.events[Math.floor(total / 2) - 1].id!;
      const rest = await readToEnd(url, middle);
      expectExactRun(rest.events, { after: sequenceOf(middle), final: 'error', label: `${streamId} late, mid id` });
      expect(rest.events).toEqual(whole.events.slice(Math.floor(total / 2)));
    }
    const seen = await fetch(url, { headers: { 'last-event-id': whole.events.at(-1)!.id! } });
    expect(seen.status).toBe(204);
  }

  const syncThrows: [string, () => StreamProducer, RegExp][] = [
    [
      'work function throwing synchronously',
      () => () => {
        throw new Error('boom: sync');
      },
      /boom: sync/,
    ],
    [
      'work function rejecting before its first event',
      () => async () => {
        await sleep(5);
        throw new Error('boom: async before any event');
      },
      /boom: async before any event/,
    ],
    ['Observable erroring on subscribe', () => throwError(() => new Error('boom: observable')), /boom: observable/],
    [
      'AsyncIterable whose iterator cannot be made',
      () =>
        ({
          [Symbol.asyncIterator]() {
            throw new Error('boom: iterator');
          },
        }) as AsyncIterable<unknown>,
      /boom: iterator/,
    ],
    [
      'work function throwing a non-Error value',
      () => () => {
        throw 'a bare string';
      },
      /a bare string/,
    ],
    ['a producer of no supported kind', () => 42 as unknown as StreamProducer, /must be a function/],
  ];

  it.each(syncThrows)(
    '%s: the only event is the final error, replayed to every later client',
    async (_name, make, logged) => {
      const before = logs.errors.length;
      const stream = server.registry.create(make());
      expect(await stream.whenFinished()).toBe('failed');
      await expectReplays(stream.id, 1, GENERIC);
      const newLogs = logs.errors.slice(before).join('\n');
      expect(newLogs).toMatch(logged);
      expect(newLogs).toMatch(new RegExp(`Stream ${stream.id} failed`));
    },
  );

  const EVENTS = 30;
  const afterSome: [string, () => StreamProducer, object][] = [
    [
      'work function',
      () =>
        async ({ send }) => {
          for (let i = 0; i < EVENTS; i++) {
            send({ type: 'tick', data: { i } });
            await sleep(8);
          }
          throw new PublicStreamError('quota exceeded');
        },
      { status: 'failed', message: 'quota exceeded' },
    ],
    [
      'Observable',
      () =>
        new Observable<{ i: number }>((subscriber) => {
          let i = 0;
          const timer = setInterval(() => {
            if (i < EVENTS) subscriber.next({ i: i++ });
            else subscriber.error(new Error('observable broke'));
          }, 8);
          return () => clearInterval(timer);
        }),
      GENERIC,
    ],
    [
      'async generator',
      () =>
        (async function* () {
          for (let i = 0; i < EVENTS; i++) {
            yield { i };
            await sleep(8);
          }
          throw new Error('generator broke');
        })(),
      GENERIC,
    ],
    [
      'work function whose send throws (event too large) and does not catch it',
      () =>
        async ({ send }) => {
          for (let i = 0; i < EVENTS; i++) {
            send({ type: 'tick', data: { i } });
            await sleep(8);
          }
          send({ type: 'tick', data: 'x'.repeat(2 * 1024 * 1024) });
          send({ type: 'tick', data: 'never sent' });
        },
      GENERIC,
    ],
  ];

  it.each(afterSome)(
    `%s failing after ${EVENTS} events: live clients get every event then the error; later ones replay it`,
    async (_name, make, finalData) => {
      const stream = server.registry.create(make());
      const url = server.url(stream.id);
      const live = [new RawSseClient(url), new RawSseClient(url), new RawSseClient(url)];
      // One joins in the middle with the id of the 10th event.
      await live[0].waitFor((client) => client.events.length >= 10);
      const joiner = new RawSseClient(url, live[0].events[9].id);
      await Promise.all([...live, joiner].map((client) => client.done));
      for (const [index, client] of live.entries()) {
        expect(client.status).toBe(200);
        expectExactRun(client.events, { final: 'error', label: `live ${index}` });
        expect(client.events).toHaveLength(EVENTS + 1);
      }
      expectExactRun(joiner.events, { after: 10, final: 'error', label: 'joiner' });
      expect(live[0].events.slice(0, EVENTS).map((event) => JSON.parse(event.data).i)).toEqual(
        Array.from({ length: EVENTS }, (_, i) => i),
      );
      expect(JSON.parse(live[0].events.at(-1)!.data)).toEqual(finalData);
      expect(stream.lastSequence).toBe(EVENTS + 1);
      await expectReplays(stream.id, EVENTS + 1, finalData);
    },
  );

  it('keeps serving afterwards: no client left attached, failed streams expire, a new stream completes', async () => {
    await eventually(() => server.registry.stats().clients === 0, 5_000);
    expect(await healthy(server.baseUrl)).toBe(true);
    const fine = server.registry.create(async ({ send }) => {
      for (let i = 0; i < 5; i++) send({ data: i });
    });
    const reader = await readToEnd(server.url(fine.id));
    expectExactRun(reader.events, { final: 'done' });
    expect(reader.events).toHaveLength(6);
    await eventually(() => server.registry.stats().streams === 0, RETENTION_MS + 5_000);
    expect(server.registry.stats()).toMatchObject({ clients: 0, bufferedEvents: 0 });
  });
});
