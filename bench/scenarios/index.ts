import { idleMemory } from './idle-memory.js';
import { latency } from './latency.js';
import { reconnectStorm } from './reconnect-storm.js';
import type { Scenario, Sizes } from './scenario.js';
import { throughput } from './throughput.js';

export const SCENARIOS: Record<string, Scenario> = {
  throughput,
  latency,
  'idle-memory': idleMemory,
  'storm-buffer': reconnectStorm({ fromDatabase: false }),
  'storm-database': reconnectStorm({ fromDatabase: true }),
};

/** Sizes of issue 6: a few minutes for the baselines on a 2-core machine. */
export const DEFAULT_SIZES: Sizes = {
  throughput: { clients: 100, events: 10_000, size: 100 },
  latency: { clients: 1_000, rate: 20, seconds: 5, warmupEvents: 10, size: 100 },
  idle: { connections: 5_000 },
  storm: { clients: 1_000, events: 1_000, size: 100 },
};

/** Small enough for a smoke test in well under a minute per target. */
export const QUICK_SIZES: Sizes = {
  throughput: { clients: 20, events: 2_000, size: 100 },
  latency: { clients: 200, rate: 20, seconds: 2, warmupEvents: 5, size: 100 },
  idle: { connections: 1_000 },
  storm: { clients: 200, events: 200, size: 100 },
};
