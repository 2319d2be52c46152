import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../test/support/spawned-app.js';
import type { ServerStats } from './servers/common.js';
import type { Target } from './targets.js';

const ROOT = path.resolve(import.meta.dirname, '..');

/**
 * The root tsconfig maps `nestjs-meridian-stream` to lib/*.ts, which tsx (esbuild) compiles
 * without decorator metadata, so Nest could not inject the library's classes. Without the
 * mapping the package resolves to its own dist/ (built by tsc, what users install).
 */
const SERVER_TSCONFIG = path.join(import.meta.dirname, 'tsconfig.servers.json');
const STARTUP_MS = 30_000;

/** One target's server: a fresh process for each repetition (see the contract in servers/common.ts). */
export class ServerProcess {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly output: () => string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  /** `scenarios`: what this process will run (env BENCH_SCENARIOS, see the contract in servers/common.ts). */
  static async start(target: Target, scenarios?: readonly string[]): Promise<ServerProcess> {
    const port = await freePort();
    const only = scenarios ? { BENCH_SCENARIOS: scenarios.join(',') } : {};
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', target.file], {
      cwd: ROOT,
      env: { ...process.env, TSX_TSCONFIG_PATH: SERVER_TSCONFIG, ...target.env, ...only, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (chunk) => (output += chunk));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(`did not print "listening ${port}" within ${STARTUP_MS} ms`), STARTUP_MS);
      function fail(reason: string) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${target.name} ${reason}\n${output.slice(-2000)}`));
      }
      child.once('exit', (code) => fail(`exited with ${code} before listening`));
      let lines = '';
      child.stdout!.on('data', (chunk) => {
        lines += chunk;
        output += chunk;
        if (lines.split('\n').includes(`listening ${port}`)) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve();
        }
      });
    });
    return new ServerProcess(port, child, () => output);
  }

  async stats(gc = false): Promise<ServerStats> {
    const response = await fetch(`http://127.0.0.1:${this.port}/stats${gc ? '?gc=1' : ''}`);
    if (!response.ok) throw new Error(`GET /stats answered ${response.status}`);
    return (await response.json()) as ServerStats;
  }

  /** Polls /stats until the server counts `connections` open SSE clients. */
  async waitForConnections(connections: number, timeoutMs = 15_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const { connections: open } = await this.stats();
      if (open === connections) return;
      if (performance.now() > deadline) throw new Error(`server counts ${open} connections, expected ${connections}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** POST /channels/<name>: opens a channel before its first client comes. */
  async openChannel(channel: string): Promise<void> {
    const response = await fetch(`http://127.0.0.1:${this.port}/channels/${channel}`, { method: 'POST' });
    await response.arrayBuffer();
    if (response.status !== 204) throw new Error(`POST /channels/${channel} answered ${response.status}`);
  }

  /** POST /persist; the status tells whether the target has a database tier (200) or not (404). */
  async persist(channel: string): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.port}/persist?channel=${channel}`, { method: 'POST' });
    await response.arrayBuffer();
    return response.status;
  }

  /** The last of what the process wrote, for error reports. */
  tail(): string {
    return this.output().slice(-2000);
  }

  /** SIGTERM, then SIGKILL if it has not exited within 3 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
}
