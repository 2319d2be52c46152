/** A figure of the report: which scenario yields it, how to show it, which way is better. */
export interface Figure {
  key: string;
  label: string;
  scenario: string;
  higherIsBetter: boolean;
  format(value: number): string;
}

const KiB = 1024;

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
}

export const FIGURES: Figure[] = [
  {
    key: 'deliveriesPerSecond',
    label: 'throughput',
    scenario: 'throughput',
    higherIsBetter: true,
    format: (v) => `${(v / 1000).toFixed(1)}k/s`,
  },
  { key: 'p50Ms', label: 'p50', scenario: 'latency', higherIsBetter: false, format: ms },
  { key: 'p99Ms', label: 'p99', scenario: 'latency', higherIsBetter: false, format: ms },
  {
    key: 'rssPerConnection',
    label: 'RSS/conn',
    scenario: 'idle-memory',
    higherIsBetter: false,
    format: (v) => `${(v / KiB).toFixed(1)} KiB`,
  },
  {
    key: 'heapPerConnection',
    label: 'heap/conn',
    scenario: 'idle-memory',
    higherIsBetter: false,
    format: (v) => `${(v / KiB).toFixed(1)} KiB`,
  },
  { key: 'connectMs', label: 'connect all', scenario: 'idle-memory', higherIsBetter: false, format: ms },
  // Not in the main table: only the targets of a pair have them (bench/running-pairs.ts).
  {
    key: 'runningConnectMs',
    label: 'connect all, running',
    scenario: 'running-connect',
    higherIsBetter: false,
    format: ms,
  },
  {
    key: 'runningCpuPerConnection',
    label: 'server CPU/conn, running',
    scenario: 'running-connect',
    higherIsBetter: false,
    format: (v) => `${v.toFixed(0)} µs`,
  },
  { key: 'stormBufferMs', label: 'storm (buffer)', scenario: 'storm-buffer', higherIsBetter: false, format: ms },
  { key: 'stormDatabaseMs', label: 'storm (database)', scenario: 'storm-database', higherIsBetter: false, format: ms },
];
