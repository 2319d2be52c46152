import { spawn } from 'node:child_process';
import os from 'node:os';
import { afterEach, describe, expect, test } from '@jest/globals';
import { waitUntilQuiet } from '../../bench/settle.js';

/*
 * The bench waits for the machine to be quiet before each measurement, so that a run does not pay
 * for the one before it. Here every core is kept busy: the wait must last until they are let go.
 */

const hogs: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const hog of hogs.splice(0)) hog.kill('SIGKILL');
});

function busy(ms: number): Promise<void> {
  const hog = spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end);`]);
  hogs.push(hog);
  return new Promise((resolve) => hog.once('spawn', () => resolve()));
}

describe('waitUntilQuiet()', () => {
  test('waits while every core is busy, and no longer than 5 s', async () => {
    const busyMs = 1_500;
    await Promise.all(Array.from({ length: os.availableParallelism() }, () => busy(busyMs)));
    // Let the busy loops start (a Node process takes a moment to boot).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waited = await waitUntilQuiet();
    // Both bounds are the behaviour, not a speed: it waits while the cores are busy, and it gives
    // up at its 5 s cap (the margin covers one 100 ms window and a busy machine's timer lag).
    expect(waited).toBeGreaterThanOrEqual(busyMs - 300 - 200);
    expect(waited).toBeLessThan(5_000 + 1_000);
  }, 15_000);
});
