import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { CommandName, Commands, Reply, Request } from './scale-protocol.js';

const MAIN = path.join(import.meta.dirname, 'scale-worker.ts');

/** The scale scenario's handle on its load generator process (./scale-worker.ts). */
export class ScaleLoadGenerator {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private exitCode: number | null | undefined;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.ok) waiter?.resolve(message.result);
      else waiter?.reject(new Error(`load generator: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exitCode = code;
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`load generator exited (${signal ?? `code ${code}`})`));
      this.pending.clear();
    });
  }

  static start(): ScaleLoadGenerator {
    return new ScaleLoadGenerator(
      fork(MAIN, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<K extends CommandName>(cmd: K, args: Commands[K]['args']): Promise<Commands[K]['result']> {
    if (this.exitCode !== undefined) return Promise.reject(new Error('the load generator has exited'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, cmd, args } satisfies Request<K>);
    });
  }

  /** Ends the process (it exits when the IPC channel closes; SIGKILL if it has not within 5 s). */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
