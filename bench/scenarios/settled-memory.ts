import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerProcess } from '../server-process.js';

/** RSS moving by less than this between two readings counts as settled. */
const SETTLED_BYTES = 1024 * 1024;
/**
 * Forced collections before RSS counts as settled. V8 drops the bytecode of functions not run
 * for several major collections (start-up code, tsx's compiler): an idle Nest process lost 23 MB
 * of RSS at the fifth forced collection, 155 to 132 MB, after four level readings.
 */
const MIN_COLLECTIONS = 8;
const MAX_COLLECTIONS = 30;

/**
 * RSS and heap after a quiet pause, then forced collections half a second apart until RSS stops
 * moving. V8 collects again and returns pages to the system some seconds after a process falls
 * quiet: without the pause, RSS per connection at 1,000 connections came out negative.
 */
export async function settledMemory(
  server: ServerProcess,
  quietSeconds: number,
): Promise<{ rss: number; heapUsed: number }> {
  await sleep(quietSeconds * 1000);
  let last = await server.stats(true);
  let quiet = 0;
  for (let collections = 1; collections < MAX_COLLECTIONS; collections++) {
    if (collections >= MIN_COLLECTIONS && quiet >= 2) break;
    await sleep(500);
    const next = await server.stats(true);
    quiet = Math.abs(next.rss - last.rss) < SETTLED_BYTES ? quiet + 1 : 0;
    last = next;
  }
  return last;
}
