import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { CommandName, Commands, Reply, Request } from './protocol.js';

const MAIN = path.join(import.meta.dirname, 'main.ts');

/** The runner's handle on the load generator process. */
export class LoadGenerator {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.ok) waiter?.resolve(message.result);
      else waiter?.reject(new Error(`load generator: ${message.error}`));
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`load generator exited with ${code}`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  static start(): LoadGenerator {
    return new LoadGenerator(
      fork(MAIN, [], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  call<K extends CommandName>(cmd: K, args: Commands[K]['args']): Promise<Commands[K]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, cmd, args } satisfies Request<K>);
    });
  }

  stop(): void {
    this.child.disconnect();
  }
}
