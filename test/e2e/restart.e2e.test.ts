import { SseReader, readAll } from '../support/sse-reader.js';
import { createStream, temporarySqliteUrl } from '../support/sample-app.js';
import { databaseKinds } from '../support/databases.js';
import { spawnSampleApp } from '../support/spawned-app.js';

const sequenceOf = (id: string | undefined) => Number(id!.split('-')[1]);

describe.each(databaseKinds())('a stream outlives its process (built sample app, %s)', (kind) => {
  it('reads part, finishes, persists, restarts, resumes with exactly the rest, then gets 204', async () => {
    const sqlite = kind === 'sqlite' ? temporarySqliteUrl() : undefined;
    const env = { DATABASE_URL: sqlite?.url ?? process.env.DATABASE_URL! };
    try {
      let app = await spawnSampleApp(env);
      const { id, url } = await createStream(app.baseUrl, { events: 40, intervalMs: 10 });
      const partial = new SseReader(url);
      await partial.waitFor((reader) => reader.events.length >= 12);
      partial.destroy();
      await partial.done;
      const lastSeen = partial.lastEventId!;
      expect(sequenceOf(lastSeen)).toBeGreaterThanOrEqual(12);

      // Let it finish, then persist-and-clear.
      const watcher = await readAll(url, { 'last-event-id': lastSeen });
      expect(watcher.events.at(-1)!.event).toBe('done');
      const persist = await fetch(`${app.baseUrl}/streams/${id}/persist`, { method: 'POST' });
      expect(persist.status).toBe(200);
      expect(((await persist.json()) as { cleared: number }).cleared).toBe(41);

      await app.stop('SIGTERM');
      app = await spawnSampleApp(env);
      try {
        const rest = await readAll(`${app.baseUrl}/streams/${id}`, { 'last-event-id': lastSeen });
        expect(rest.status).toBe(200);
        const sequences = rest.events.map((event) => sequenceOf(event.id));
        const from = sequenceOf(lastSeen) + 1;
        expect(sequences).toEqual(Array.from({ length: 41 - from + 1 }, (_, i) => from + i));
        expect(rest.events.map((event) => event.data)).toEqual(watcher.events.map((event) => event.data));
        expect(rest.events.at(-1)!.event).toBe('done');
        // Brought back from the database, it has nothing left to write (it answered 500 before).
        const persistAgain = await fetch(`${app.baseUrl}/streams/${id}/persist`, { method: 'POST' });
        expect(persistAgain.status).toBe(200);
        expect(await persistAgain.json()).toEqual({ persisted: 0, cleared: 0 });

        const again = await fetch(`${app.baseUrl}/streams/${id}`, {
          headers: { 'last-event-id': rest.events.at(-1)!.id! },
        });
        expect(again.status).toBe(204);
        // A client with no id gets the whole stream from the database.
        const whole = await readAll(`${app.baseUrl}/streams/${id}`);
        expect(whole.events.map((event) => sequenceOf(event.id))).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
      } finally {
        await app.stop();
      }
    } finally {
      sqlite?.remove();
    }
  });
});
