import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';

/** The repository, where the sample app runs from. */
export const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'sample-app/dist/main.js');

/** A free loopback port below the ephemeral range (client sockets take ports above 32768). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found between 20000 and 32000');
}

function defaultDatabase(): string {
  const folder = mkdtempSync(path.join(tmpdir(), 'meridian-spawned-'));
  return `sqlite:${path.join(folder, 'events.sqlite')}`;
}

/** The built sample app (`npm start`'s artifact) running as its own process. */
export interface SpawnedApp {
  readonly baseUrl: string;
  readonly process: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The built sample app's entry point; throws, naming the build command, when it is missing. */
export function sampleAppMain(): string {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: run "npm run build && npm run build:sample" (npm test does it first).`);
  }
  return MAIN;
}

/** Waits until the spawned app answers GET /health, failing with its output if it exits or times out. */
export async function waitUntilHealthy(
  child: ChildProcess,
  baseUrl: string,
  output: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sample app exited with ${child.exitCode}:\n${output()}`);
    const healthy = await fetch(`${baseUrl}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sample app did not become healthy within ${timeoutMs} ms at ${baseUrl}:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function spawnSampleApp(env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<SpawnedApp> {
  return spawnApp(sampleAppMain(), env, nodeArgs);
}

/**
 * A Node.js app of the repository (`main`: a path) as its own process, like the sample app: on a
 * free port, with its own SQLite file and no Redis unless `env` names them; resolves once it
 * answers GET /health.
 */
export async function spawnApp(
  main: string,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<SpawnedApp> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, main], {
    cwd: ROOT,
    // A SQLite file of its own unless the test names a database: never the developer's.
    // No Redis either unless asked for: CI sets REDIS_URL for the suites that want it.
    env: {
      ...process.env,
      DATABASE_URL: defaultDatabase(),
      REDIS_URL: '',
      PORT: String(port),
      HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilHealthy(child, baseUrl, () => output, 15_000);
  return {
    baseUrl,
    process: child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
