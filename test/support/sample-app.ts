import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { StreamingModuleOptions } from 'nestjs-meridian-stream';
import { createSampleApp, type HttpAdapterName } from '../../sample-app/src/create-app.js';
import { freePort } from './spawned-app.js';

/** The sample app listening on a loopback port, in this process. */
export interface RunningApp {
  readonly app: INestApplication;
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** A database URL of a SQLite file of its own, and a function that deletes it. */
export function temporarySqliteUrl(): { url: string; remove: () => void } {
  const folder = mkdtempSync(path.join(tmpdir(), 'meridian-app-'));
  return {
    url: `sqlite:${path.join(folder, 'events.sqlite')}`,
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}

/** The sample app in this process, on a SQLite file of its own unless `databaseUrl` is given. */
export async function startSampleApp(
  adapter: HttpAdapterName,
  streaming: StreamingModuleOptions = {},
  databaseUrl?: string,
): Promise<RunningApp> {
  const sqlite = databaseUrl ? undefined : temporarySqliteUrl();
  const app = await createSampleApp({
    adapter,
    logger: false,
    streaming: { retryMs: 100, ...streaming },
    databaseUrl: databaseUrl ?? sqlite!.url,
  });
  await app.listen(await freePort(), '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  const baseUrl = `http://127.0.0.1:${address.port}`;
  return {
    app,
    baseUrl,
    close: async () => {
      await app.close();
      sqlite?.remove();
    },
  };
}

/** POST /streams and return the new stream's id and URL. */
export async function createStream(baseUrl: string, body: object = {}): Promise<{ id: string; url: string }> {
  const response = await fetch(`${baseUrl}/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`POST /streams: ${response.status} ${await response.text()}`);
  const json = (await response.json()) as { stream_id: string; stream_url: string };
  return { id: json.stream_id, url: `${baseUrl}${json.stream_url}` };
}

export async function getStats(baseUrl: string, gc = false): Promise<Record<string, unknown> & { clients: number }> {
  const response = await fetch(`${baseUrl}/stats${gc ? '?gc=1' : ''}`);
  return (await response.json()) as Record<string, unknown> & { clients: number };
}

export { eventually } from './eventually.js';
