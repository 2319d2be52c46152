import { existsSync } from 'node:fs';
import path from 'node:path';

/** A server under test: one file of bench/servers/ and the env that selects its variant. */
export interface Target {
  name: string;
  file: string;
  env: Record<string, string>;
  /** Resumes from Last-Event-ID, so the reconnect storm applies to it. */
  resumes: boolean;
  /** Run only with --all (or when named by --only): not one of the comparisons issue 6 asks for. */
  extra: boolean;
}

/** Every figure is also given as a ratio to this target, measured in the same repetition. */
export const BASELINE = 'raw-node';

const SERVERS = path.join(import.meta.dirname, 'servers');

function target(name: string, file: string, env: Record<string, string>, resumes: boolean, extra = false): Target {
  return { name, file: path.join(SERVERS, file), env, resumes, extra };
}

const EXTRA = true;

export const ALL_TARGETS: Target[] = [
  target(BASELINE, 'raw-node.ts', {}, true),
  target('better-sse', 'better-sse.ts', {}, false),
  target('nest-subject-express', 'nest-subject.ts', { HTTP_ADAPTER: 'express' }, false),
  target('nest-subject-fastify', 'nest-subject.ts', { HTTP_ADAPTER: 'fastify' }, false),
  target(
    'meridian-direct-express',
    'meridian.ts',
    { MERIDIAN_PIPELINE: 'direct', HTTP_ADAPTER: 'express' },
    true,
    EXTRA,
  ),
  // The fastest documented path.
  target('meridian-direct-fastify', 'meridian.ts', { MERIDIAN_PIPELINE: 'direct', HTTP_ADAPTER: 'fastify' }, true),
  target('meridian-nest-express', 'meridian.ts', { MERIDIAN_PIPELINE: 'nest', HTTP_ADAPTER: 'express' }, true, EXTRA),
  // Plain `@Sse()`, against the hand-written nest-subject of the same adapter.
  target('meridian-plain-express', 'meridian.ts', { MERIDIAN_PIPELINE: 'plain', HTTP_ADAPTER: 'express' }, true),
  target('meridian-plain-fastify', 'meridian.ts', { MERIDIAN_PIPELINE: 'plain', HTTP_ADAPTER: 'fastify' }, true),
];

/**
 * The targets to run: those whose file exists; those named by --only, else all but the extras
 * (unless --all). The baseline always runs.
 */
export function selectTargets(only: string[] | undefined, all = false): { targets: Target[]; missing: Target[] } {
  const wanted = ALL_TARGETS.filter((t) => (only ? only.includes(t.name) : all || !t.extra) || t.name === BASELINE);
  const unknown = only?.filter((name) => !ALL_TARGETS.some((t) => t.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown target(s): ${unknown.join(', ')}`);
  return { targets: wanted.filter((t) => existsSync(t.file)), missing: wanted.filter((t) => !existsSync(t.file)) };
}
