import { readAll } from '../support/sse-reader.js';
import { createStream, temporarySqliteUrl } from '../support/sample-app.js';
import { eventually } from '../support/eventually.js';
import { spawnSampleApp } from '../support/spawned-app.js';

describe('STORE_RETENTION_MS (built sample app, SQLite)', () => {
  it('turns store retention on: a finished stream is deleted from the database and then answers 404', async () => {
    const sqlite = temporarySqliteUrl();
    const app = await spawnSampleApp({ DATABASE_URL: sqlite.url, STORE_RETENTION_MS: '300' });
    try {
      const { id, url } = await createStream(app.baseUrl, { events: 3, intervalMs: 0 });
      const whole = await readAll(url);
      expect(whole.events.at(-1)!.event).toBe('done');
      // Purged from the database (and let go of in memory) once its retention has passed.
      await eventually(async () => (await fetch(`${app.baseUrl}/streams/${id}`)).status === 404, 10_000);
    } finally {
      await app.stop();
      sqlite.remove();
    }
  });
});
