import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Share of CPU time that must be idle, over one window, for the machine to count as quiet. */
const QUIET_IDLE_SHARE = 0.9;
const WINDOW_MS = 100;
/** Longest wait: a machine that other work keeps busy is measured busy (the report says so). */
const MAX_WAIT_MS = 5_000;

/** Idle and total CPU time of all cores so far (/proc/stat, in clock ticks), or undefined off Linux. */
function cpuTimes(): { idle: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    return { idle: fields[3] + fields[4], total: fields.reduce((sum, value) => sum + value, 0) };
  } catch {
    return undefined;
  }
}

/**
 * Waits until the machine is quiet: until a window of 100 ms in which the cores were at least 90%
 * idle, for at most 5 s; returns how long it waited. A run started while the last one's aftermath
 * still runs (a stopped server's exit, the load generator's closed sockets) pays for it: without
 * this, a target measured right after a Nest target used more CPU per connection than right after
 * raw node, so the order of targets showed in the figures (see the README's performance section).
 */
export async function waitUntilQuiet(): Promise<number> {
  const started = performance.now();
  let before = cpuTimes();
  if (!before) {
    await sleep(300);
    return performance.now() - started;
  }
  while (performance.now() - started < MAX_WAIT_MS) {
    await sleep(WINDOW_MS);
    const after = cpuTimes()!;
    const total = after.total - before.total;
    if (total > 0 && (after.idle - before.idle) / total >= QUIET_IDLE_SHARE) break;
    before = after;
  }
  return performance.now() - started;
}
