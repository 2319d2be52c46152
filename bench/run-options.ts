import {
  CONNECTIONS_SCENARIO,
  DEFAULT_CONNECTIONS,
  QUICK_CONNECTIONS,
  type ConnectionsOptions,
} from './scenarios/connections.js';
import { DEFAULT_SIZES, QUICK_SIZES, SCENARIOS } from './scenarios/index.js';
import type { Sizes } from './scenarios/scenario.js';

export interface RunOptions {
  quick: boolean;
  only?: string[];
  scenarios: string[];
  repetitions: number;
  /**
   * Runs of idle memory in all, a multiple of `repetitions`: its connect time swings most between
   * runs, and a run of it costs a few seconds per target.
   */
  idleRuns: number;
  /**
   * Rounds per target of the comparison on running servers (bench/running-pairs.ts), run with
   * idle memory for each pair of report/pairs.ts whose two targets run; 0: none.
   */
  runningRounds: number;
  sizes: Sizes;
  /** Copy the report and chart to docs/. */
  publish: boolean;
  /** Also run bench/multi-instance.ts (needs Redis). */
  multi: boolean;
  /** Also the targets marked extra in targets.ts. */
  all: boolean;
  /** Folder for the results (default bench/results). */
  out?: string;
  /** The connections scenario (run only when named by --scenarios): sizes, windows, load generators. */
  connections: ConnectionsOptions;
}

/**
 * Idle memory runs this many times per repetition. Its connect time moved by up to 20% between
 * fresh processes of the same target (8 runs of nest-subject-express: 1.05 to 1.26 s), more than
 * the differences it is meant to show; the extra runs add about 13 s per repetition here.
 */
const IDLE_RUNS_PER_REPETITION = 3;

/** Rounds of the comparison on running servers: about 45 s per pair here. */
const RUNNING_ROUNDS = 10;

export const USAGE = `tsx bench/run.ts [--quick] [--all | --only=<target,...>] [--scenarios=<${[...Object.keys(SCENARIOS), CONNECTIONS_SCENARIO].join(',')}>]
                 [--idle=<connections>] [--reps=<n>] [--rounds=<n>] [--publish] [--multi] [--out=<folder>]
  connections (only when named): [--connections=<n,...>] [--seconds=<n>] [--idlewindow=<s>] [--loadgens=<n>]`;

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export function parseOptions(argv: string[]): RunOptions {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}\n${USAGE}`);
    flags.set(match[1], match[2] ?? '');
  }
  const known = [
    ...['quick', 'all', 'only', 'scenarios', 'idle', 'reps', 'rounds', 'publish', 'multi', 'out'],
    ...['connections', 'seconds', 'idlewindow', 'loadgens'],
  ];
  const unknown = [...flags.keys()].filter((flag) => !known.includes(flag));
  if (unknown.length > 0) throw new Error(`unknown option --${unknown[0]}\n${USAGE}`);
  const quick = flags.has('quick');
  const scenarios = flags.has('scenarios') ? list(flags.get('scenarios')!) : Object.keys(SCENARIOS);
  const badScenario = scenarios.find((name) => !(name in SCENARIOS) && name !== CONNECTIONS_SCENARIO);
  if (badScenario) throw new Error(`unknown scenario ${badScenario}\n${USAGE}`);
  const repetitions = flags.has('reps') ? positive('reps', flags.get('reps')!) : quick ? 1 : 3;
  const sizes: Sizes = structuredClone(quick ? QUICK_SIZES : DEFAULT_SIZES);
  if (flags.has('idle')) sizes.idle.connections = positive('idle', flags.get('idle')!);
  const connections = { ...(quick ? QUICK_CONNECTIONS : DEFAULT_CONNECTIONS) };
  if (flags.has('connections')) {
    connections.sizes = list(flags.get('connections')!).map((size) => positive('connections', size));
    if (connections.sizes.some((size, i) => i > 0 && size <= connections.sizes[i - 1]))
      throw new Error('--connections needs growing sizes, e.g. 1000,5000,10000,19000');
  }
  if (flags.has('seconds')) connections.seconds = positive('seconds', flags.get('seconds')!);
  if (flags.has('idlewindow')) connections.idleSeconds = whole('idlewindow', flags.get('idlewindow')!);
  if (flags.has('loadgens')) connections.loadgens = positive('loadgens', flags.get('loadgens')!);
  return {
    quick,
    only: flags.has('only') ? list(flags.get('only')!) : undefined,
    scenarios,
    repetitions,
    idleRuns: repetitions * (quick ? 1 : IDLE_RUNS_PER_REPETITION),
    runningRounds: !scenarios.includes('idle-memory')
      ? 0
      : flags.has('rounds')
        ? whole('rounds', flags.get('rounds')!)
        : quick
          ? 1
          : RUNNING_ROUNDS,
    sizes,
    publish: flags.has('publish'),
    multi: flags.has('multi'),
    all: flags.has('all'),
    out: flags.get('out') || undefined,
    connections,
  };
}

function whole(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new Error(`--${flag} needs a whole number (0: none)`);
  return number;
}

function positive(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`--${flag} needs a positive integer`);
  return number;
}
