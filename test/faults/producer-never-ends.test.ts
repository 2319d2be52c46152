import { setTimeout as sleep } from 'node:timers/promises';
import { Observable } from 'rxjs';
import type { StreamProducer } from 'nestjs-meridian-stream';
import { healthy, startFaultApp, type FaultApp } from '../support/fault-app.js';
import { expectExactRun, RawSseClient, readToEnd } from '../support/fault-sse.js';
import { eventually } from '../support/eventually.js';

/*
 * Issue 7, fault "producer never ends". A stream with `timeoutMs` is cancelled when it runs out,
 * whatever its producer does: hangs on a promise that never settles, loops forever (watching its
 * signal), is an Observable that never completes, an AsyncIterable whose next() never settles,
 * or there is no producer at all. Clients get every event once, then exactly one final
 * `cancelled` event with reason `timeout`; later clients replay it; the producer is told (signal,
 * unsubscribe, return()); the stream expires after its retention and no client stays attached.
 */

const TIMEOUT_MS = 700;
const RETENTION_MS = 1_000;
const SENT_FIRST = 5;

interface Case {
  producer: StreamProducer | undefined;
  /** Whether the producer noticed the end (signal, unsubscribe, return()). */
  told: () => boolean;
  /** Sends refused although the signal had not fired (must be none: the signal fires as the stream ends). */
  lateSends?: () => number;
}

const cases: [string, () => Case][] = [
  [
    'a work function stuck on a promise that never settles',
    () => {
      let aborted = false;
      return {
        producer: async ({ send, signal }) => {
          signal.addEventListener('abort', () => (aborted = true));
          for (let i = 0; i < SENT_FIRST; i++) send({ type: 'tick', data: { i } });
          await new Promise(() => undefined);
        },
        told: () => aborted,
      };
    },
  ],
  [
    'a work function looping forever (watching its signal)',
    () => {
      let exited = false;
      let lateSends = 0;
      return {
        producer: async ({ send, signal }) => {
          for (let i = 0; !signal.aborted; i++) {
            // A refused send would mean the stream ended before its signal said so.
            if (send({ type: 'tick', data: { i } }) === undefined) lateSends++;
            await sleep(10);
          }
          if (signal.aborted) exited = true;
        },
        told: () => exited,
        lateSends: () => lateSends,
      };
    },
  ],
  [
    'an Observable that never completes',
    () => {
      let unsubscribed = false;
      return {
        producer: new Observable<{ i: number }>((subscriber) => {
          let i = 0;
          const timer = setInterval(() => subscriber.next({ i: i++ }), 10);
          return () => {
            unsubscribed = true;
            clearInterval(timer);
          };
        }),
        told: () => unsubscribed,
      };
    },
  ],
  [
    'an AsyncIterable whose next() stops settling',
    () => {
      let returned = false;
      let i = 0;
      const iterable: AsyncIterable<{ i: number }> = {
        [Symbol.asyncIterator]: () => ({
          next: () =>
            i < SENT_FIRST ? Promise.resolve({ value: { i: i++ }, done: false }) : new Promise(() => undefined),
          return: async () => {
            returned = true;
            return { value: undefined, done: true };
          },
        }),
      };
      return { producer: iterable, told: () => returned };
    },
  ],
  ['no producer, and nobody completes the stream', () => ({ producer: undefined, told: () => true })],
];

describe('a producer that never ends is cancelled by timeoutMs (real sockets, Nest app)', () => {
  let server: FaultApp;
  beforeAll(async () => {
    server = await startFaultApp({ retentionMs: RETENTION_MS, logger: false });
  });
  afterAll(() => server.close());

  it.each(cases)(
    '%s',
    async (_name, make) => {
      const fault = make();
      const stream = server.registry.create(fault.producer, { timeoutMs: TIMEOUT_MS });
      const url = server.url(stream.id);
      const live = [new RawSseClient(url), new RawSseClient(url)];
      await Promise.all(live.map((client) => client.done));
      expect(stream.state).toBe('cancelled');
      expect(stream.signal.aborted).toBe(true);
      // Not before its time (no upper bound: the machine may be busy).
      expect(stream.finishedAt! - stream.createdAt).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
      for (const [index, client] of live.entries()) {
        expect(client.status).toBe(200);
        expectExactRun(client.events, { final: 'cancelled', label: `live ${index}` });
        expect(JSON.parse(client.events.at(-1)!.data)).toEqual({ status: 'cancelled', reason: 'timeout' });
      }
      expect(live[1].events).toEqual(live[0].events);
      expect(live[0].events.at(-1)!.id).toBe(stream.lastEventId);
      await eventually(fault.told, 2_000);
      const lastSequence = stream.lastSequence;
      // A producer that was told stops; nothing is appended after the final event.
      await sleep(100);
      expect(stream.lastSequence).toBe(lastSequence);
      expect(fault.lateSends?.() ?? 0).toBe(0);

      // Later clients replay the same sequence, then the final event; one that saw it gets 204.
      const late = await readToEnd(url);
      expect(late.events).toEqual(live[0].events);
      const seen = await fetch(url, { headers: { 'last-event-id': stream.lastEventId } });
      expect(seen.status).toBe(204);

      // The stream is forgotten after its retention, even when its producer is still stuck.
      await eventually(() => !server.registry.has(stream.id), RETENTION_MS + 5_000);
      expect((await fetch(url)).status).toBe(404);
      expect(server.registry.stats().clients).toBe(0);
    },
    15_000,
  );

  it('keeps serving afterwards', async () => {
    expect(await healthy(server.baseUrl)).toBe(true);
    expect(server.registry.stats()).toMatchObject({ streams: 0, clients: 0, bufferedEvents: 0 });
    const fine = server.registry.create(
      async ({ send }) => {
        send({ data: 'ok' });
      },
      { timeoutMs: 60_000 },
    );
    const reader = await readToEnd(server.url(fine.id));
    expectExactRun(reader.events, { final: 'done' });
  });
});
