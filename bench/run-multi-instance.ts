import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The optional multi-instance comparison (--multi): runs bench/multi-instance.ts as it is
 * (three sample-app processes and Redis beside one process) and returns its Markdown table, or
 * why there is none.
 */
export async function runMultiInstance(): Promise<string> {
  const script = path.join(import.meta.dirname, 'multi-instance.ts');
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit' });
    child.once('exit', resolve);
  });
  if (code !== 0) return `bench/multi-instance.ts failed (exit ${code}); is Redis at REDIS_URL?`;
  return readFileSync(path.join(import.meta.dirname, 'results', 'multi-instance.md'), 'utf8');
}
