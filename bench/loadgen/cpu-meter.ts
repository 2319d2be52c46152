import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { CpuResult } from './protocol.js';

/** Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) the process has used so far, or NaN if /proc cannot tell. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds a process has run so far, to the nanosecond: the sum of its threads' run time
 * (/proc/<pid>/task/<tid>/schedstat), V8's and libuv's helper threads included; NaN off Linux.
 * utime and stime count in clock ticks (10 ms), too coarse for a server that broadcasts one
 * event a second to a thousand clients.
 */
export function preciseCpuSeconds(pid: number): number {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return NaN;
  }
  let ns = 0;
  for (const thread of threads) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${thread}/schedstat`, 'utf8').split(' ', 1)[0]);
    } catch {
      // The thread ended since the listing.
    }
  }
  return ns / 1e9;
}

/**
 * CPU used by this process (the load generator) and by the server over a window, each as % of
 * one core. A load generator near 100% means the figures measure it, not the server.
 */
export class CpuMeter {
  private startedAt = 0;
  private ownStart: NodeJS.CpuUsage = process.cpuUsage();
  private serverStart = NaN;
  private serverPid = 0;

  start(serverPid: number): void {
    this.serverPid = serverPid;
    this.serverStart = processCpuSeconds(serverPid);
    this.ownStart = process.cpuUsage();
    this.startedAt = performance.now();
  }

  stop(): CpuResult {
    const wallMs = performance.now() - this.startedAt;
    const own = process.cpuUsage(this.ownStart);
    const server = processCpuSeconds(this.serverPid) - this.serverStart;
    return {
      wallMs,
      loadgenPercent: ((own.user + own.system) / 1000 / wallMs) * 100,
      serverPercent: ((server * 1000) / wallMs) * 100,
    };
  }
}
