import { preciseCpuSeconds } from './cpu-meter.js';
import type { CommandName, Commands } from './protocol.js';
import { LoadGenerator } from './remote.js';

/**
 * Several load generator processes driven as one, each connecting from a loopback address of its
 * own (127.0.0.2, 127.0.0.3, ...): each process stays under the open-files limit, and each source
 * address has its own ephemeral ports, so neither limits how many connections one server gets.
 */
export class LoadGeneratorPool {
  private constructor(readonly members: readonly LoadGenerator[]) {}

  static start(count: number): LoadGeneratorPool {
    return new LoadGeneratorPool(Array.from({ length: count }, () => LoadGenerator.start()));
  }

  get size(): number {
    return this.members.length;
  }

  /** The source address of member `index`. */
  sourceAddress(index: number): string {
    return `127.0.0.${2 + index}`;
  }

  /** Sends a command to every member at once; `args` may differ by member. */
  all<K extends CommandName>(
    cmd: K,
    args: Commands[K]['args'] | ((index: number) => Commands[K]['args']),
  ): Promise<Commands[K]['result'][]> {
    return Promise.all(
      this.members.map((member, index) => member.call(cmd, typeof args === 'function' ? args(index) : args)),
    );
  }

  /** CPU seconds all members have used so far (see preciseCpuSeconds). */
  cpuSeconds(): number {
    return this.members.reduce((sum, member) => sum + preciseCpuSeconds(member.pid), 0);
  }

  stop(): void {
    for (const member of this.members) member.stop();
  }
}
