import { SseReader, readAll } from '../support/sse-reader.js';
import { createStream, temporarySqliteUrl } from '../support/sample-app.js';
import { databaseKinds } from '../support/databases.js';
import { spawnSampleApp } from '../support/spawned-app.js';

const sequenceOf = (id: string | undefined) => Number(id!.split('-')[1]);

/*
 * The operator's bad day: the only instance is SIGKILLed mid-stream, with events sent to clients
 * but not yet written (write-behind every 300 ms), and restarted on the same database. Every
 * client, whatever id it holds, must get an honest answer: never a 400, never an id reused.
 */
describe.each(databaseKinds())('SIGKILL mid-stream and restart (built sample app, %s)', (kind) => {
  it('answers a client at every point it may have reached: the rest, or reset and the stored history', async () => {
    const sqlite = kind === 'sqlite' ? temporarySqliteUrl() : undefined;
    const env = { DATABASE_URL: sqlite?.url ?? process.env.DATABASE_URL!, PERSIST_EVERY_MS: '300' };
    try {
      let app = await spawnSampleApp(env);
      const { id } = await createStream(app.baseUrl, { events: 2_000, intervalMs: 5 });
      const live = new SseReader(`${app.baseUrl}/streams/${id}`);
      // Long enough for some writes to land, and with events in flight since the last one.
      await live.waitFor((reader) => reader.events.length >= 150);
      await app.stop('SIGKILL');
      await live.done;
      const seen = live.events.map((event) => event.id!);
      const [epoch] = seen[0].split('-');

      app = await spawnSampleApp(env);
      try {
        const url = `${app.baseUrl}/streams/${id}`;
        const whole = await readAll(url);
        expect(whole.status).toBe(200);
        const final = whole.events.at(-1)!;
        expect(final.event).toBe('error');
        expect(JSON.parse(final.data)).toMatchObject({ status: 'failed', reason: 'interrupted' });
        const stored = whole.events.slice(0, -1);
        const storedThrough = stored.length;
        // The crash lost something, and the store kept a prefix of what clients saw.
        expect(storedThrough).toBeGreaterThan(0);
        expect(storedThrough).toBeLessThan(seen.length);
        expect(stored.map((event) => event.id)).toEqual(seen.slice(0, storedThrough));
        expect(seen).not.toContain(final.id);

        for (let point = 0; point <= seen.length; point++) {
          const resumed = await readAll(url, point === 0 ? {} : { 'last-event-id': seen[point - 1] });
          expect(resumed.status).toBe(200);
          const ids = resumed.events.map((event) => event.id);
          if (point <= storedThrough) {
            expect(resumed.events[0].event).not.toBe('reset');
            expect(ids).toEqual([...seen.slice(point, storedThrough), final.id]);
          } else {
            expect(resumed.events[0]).toMatchObject({ event: 'reset', id: `${epoch}-0` });
            expect(JSON.parse(resumed.events[0].data)).toMatchObject({ reason: 'history_lost' });
            expect(ids.slice(1)).toEqual([...seen.slice(0, storedThrough), final.id]);
          }
        }
        const done = await fetch(url, { headers: { 'last-event-id': final.id! } });
        expect(done.status).toBe(204);
        expect(sequenceOf(final.id)).toBe(storedThrough + 1);
      } finally {
        await app.stop();
      }
    } finally {
      sqlite?.remove();
    }
  });
});
