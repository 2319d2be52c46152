import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, ROOT, sampleAppMain, waitUntilHealthy } from './spawned-app.js';

/*
 * The built sample app as its own process, for the fault and soak suites: like spawnSampleApp
 * (test/support/spawned-app.ts), but on a port of the caller's choosing (so an instance can be
 * restarted on the same port), and optionally with a resource probe: a module preloaded with
 * --import that answers, over the IPC channel, with process.getActiveResourcesInfo() counts and
 * process.memoryUsage() after a GC (the sample app's GET /stats has no resources).
 */

/** Preloaded into the app when `probe` is set; answers `{ type: 'probe', id }` messages. */
const PROBE_SOURCE = `
process.on('message', (message) => {
  if (!message || message.type !== 'probe') return;
  if (globalThis.gc) { globalThis.gc(); globalThis.gc(); }
  const resources = {};
  for (const name of process.getActiveResourcesInfo()) resources[name] = (resources[name] ?? 0) + 1;
  process.send({ type: 'probe', id: message.id, resources, memory: process.memoryUsage() });
});
`;

export interface ProbeReply {
  /** process.getActiveResourcesInfo(), counted by kind (the IPC channel itself is one PipeWrap). */
  readonly resources: Record<string, number>;
  /** process.memoryUsage() after two forced GCs (with --expose-gc). */
  readonly memory: NodeJS.MemoryUsage;
}

export interface SampleProcess {
  readonly port: number;
  readonly baseUrl: string;
  readonly process: ChildProcess;
  output(): string;
  /**
   * Sends `signal` (default SIGTERM) to this process by its PID and resolves with its exit code,
   * or the signal that ended it (Nest's shutdown hooks re-raise SIGTERM once they are done).
   */
  stop(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
  /** Asks the preloaded probe (needs `probe: true`). */
  probe(): Promise<ProbeReply>;
}

export interface SampleProcessOptions {
  /** Default: a free port between 20000 and 32000. */
  readonly port?: number;
  /** On top of this process's environment; DATABASE_URL should be set by the caller. */
  readonly env?: Record<string, string>;
  readonly nodeArgs?: string[];
  readonly probe?: boolean;
  readonly startTimeoutMs?: number;
}

export async function startSampleProcess(options: SampleProcessOptions = {}): Promise<SampleProcess> {
  const main = sampleAppMain();
  const port = options.port ?? (await freePort());
  const probeArgs = options.probe ? ['--import', `data:text/javascript,${encodeURIComponent(PROBE_SOURCE)}`] : [];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...probeArgs, main], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: '', HOST: '127.0.0.1', ...options.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe', ...(options.probe ? (['ipc'] as const) : [])],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilHealthy(child, baseUrl, () => output, options.startTimeoutMs ?? 20_000);
  let probes = 0;
  return {
    port,
    baseUrl,
    process: child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, signal);
      return exited;
    },
    probe: () =>
      new Promise<ProbeReply>((resolve, reject) => {
        if (!options.probe || !child.connected) return reject(new Error('no probe in this process'));
        const id = ++probes;
        const timer = setTimeout(() => reject(new Error('probe did not answer within 10 s')), 10_000);
        const onMessage = (message: { type?: string; id?: number } & ProbeReply) => {
          if (message?.type !== 'probe' || message.id !== id) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve({ resources: message.resources, memory: message.memory });
        };
        child.on('message', onMessage);
        child.send({ type: 'probe', id });
      }),
  };
}
