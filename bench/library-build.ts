import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

function newestMtime(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * The meridian target runs the library from dist/ (see server-process.ts): a warning when lib/
 * changed since the last build, as `tsx bench/run.ts` (unlike `npm run bench`) does not build.
 */
export function staleBuildWarning(): string | undefined {
  try {
    const built = statSync(path.join(ROOT, 'dist/index.js')).mtimeMs;
    if (newestMtime(path.join(ROOT, 'lib')) > built) return 'lib/ changed since dist/ was built: run `npm run build`';
  } catch {
    return 'dist/ is missing: run `npm run build` (the meridian targets import the built library)';
  }
  return undefined;
}
