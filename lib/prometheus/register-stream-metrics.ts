import { Counter, Gauge, Histogram, register as globalRegister, type Registry } from 'prom-client';
import type { StreamRegistry, StreamRegistryStats } from '../core/stream-registry.js';

/** Options of {@link registerStreamMetrics} and `StreamingMetricsModule.forRoot()`. */
export interface StreamMetricsOptions {
  /** The prom-client registry to register on. Default: prom-client's global `register`. */
  readonly registry?: Registry;
  /** Put before every metric name. Default `meridian_stream_`. */
  readonly prefix?: string;
}

/** What {@link registerStreamMetrics} returns. */
export interface RegisteredStreamMetrics {
  /** The names registered, prefix included. */
  readonly names: readonly string[];
  /** Removes the metrics from the registry and stops listening to the stream registry. */
  unregister(): void;
}

/** Thrown when a metric of the same name is on the registry already (another registration). */
export class MetricsAlreadyRegisteredError extends Error {
  readonly code = 'METRICS_ALREADY_REGISTERED';
  constructor(readonly metric: string) {
    super(
      `The prom-client registry already has a metric named "${metric}". Register the streaming metrics once per registry: ` +
        'give a second StreamRegistry its own prom-client Registry (option registry) or another prefix, or unregister() the first.',
    );
    this.name = 'MetricsAlreadyRegisteredError';
  }
}

/** Buckets in seconds: a database write, a Redis round trip, a model's first token. */
const STORE_WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BUS_LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FIRST_EVENT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/** The metrics fed as things happen, by their names without the prefix. */
const TIMED = [
  'store_write_duration_seconds',
  'store_written_events_total',
  'bus_read_lag_seconds',
  'first_event_seconds',
];

type Figures = StreamRegistryStats;

/** A gauge or counter read from `stats()` at scrape time: one label, or none. */
interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly kind: 'gauge' | 'counter';
  readonly label?: string;
  read(figures: Figures): number | Readonly<Record<string, number>>;
}

const SCRAPED: readonly ScrapedMetric[] = [
  { name: 'streams', help: 'Streams held in memory, by state.', kind: 'gauge', label: 'state', read: (f) => f.byState },
  { name: 'clients', help: 'Clients connected now.', kind: 'gauge', read: (f) => f.clients },
  { name: 'buffered_events', help: 'Events held in replay buffers.', kind: 'gauge', read: (f) => f.bufferedEvents },
  {
    name: 'buffered_bytes',
    help: 'Bytes of data held in replay buffers.',
    kind: 'gauge',
    read: (f) => f.bufferedBytes,
  },
  {
    name: 'unstored_events',
    help: 'Events of streams produced here that the store does not hold yet.',
    kind: 'gauge',
    read: (f) => f.unstoredEvents,
  },
  { name: 'streams_created_total', help: 'Streams created here.', kind: 'counter', read: (f) => f.streamsCreated },
  {
    name: 'events_total',
    help: 'Events the streams sent (produced here, or received from the bus for a followed stream).',
    kind: 'counter',
    read: (f) => f.eventsTotal,
  },
  {
    name: 'event_bytes_total',
    help: 'Bytes of data of the events the streams sent.',
    kind: 'counter',
    read: (f) => f.bytesTotal,
  },
  {
    name: 'client_events_total',
    help: 'Events written to clients (each client counts; catch-up included).',
    kind: 'counter',
    read: (f) => f.clientEventsSent,
  },
  {
    name: 'client_bytes_total',
    help: 'Bytes of data of the events written to clients.',
    kind: 'counter',
    read: (f) => f.clientBytesSent,
  },
  {
    name: 'resumes_total',
    help: 'Client connections by how they were resumed (the Meridian-Resume header), and fully_delivered: answered 204.',
    kind: 'counter',
    label: 'outcome',
    read: (f) => f.resumes,
  },
  {
    name: 'slow_client_disconnects_total',
    help: 'Clients cut for not keeping up.',
    kind: 'counter',
    read: (f) => f.slowClientDisconnects,
  },
  {
    name: 'located_total',
    help: 'Streams brought into memory from the store or followed from the bus.',
    kind: 'counter',
    label: 'source',
    read: (f) => f.located,
  },
];

/**
 * Registers the streaming metrics of `streams` on a prom-client registry (default: the global
 * `register`, which `@willsoto/nestjs-prometheus` serves on `/metrics`). Gauges and counters are
 * read from `streams.stats()` when the registry is scraped (once per scrape); histograms are fed
 * as things happen. Names are listed in docs/metrics.md.
 * @throws MetricsAlreadyRegisteredError when the registry has one of the names already.
 */
export function registerStreamMetrics(
  streams: StreamRegistry,
  options: StreamMetricsOptions = {},
): RegisteredStreamMetrics {
  const registry = options.registry ?? globalRegister;
  const prefix = options.prefix ?? 'meridian_stream_';
  const names = [...SCRAPED.map((metric) => metric.name), ...TIMED].map((name) => prefix + name);
  for (const name of names) if (registry.getSingleMetric(name)) throw new MetricsAlreadyRegisteredError(name);

  // Every metric's collect() runs in the same turn of a scrape: stats() is read once for all.
  let figures: Figures | undefined;
  const read = (): Figures => {
    if (!figures) {
      figures = streams.stats();
      queueMicrotask(() => (figures = undefined));
    }
    return figures;
  };
  const registers = [registry];
  for (const metric of SCRAPED) {
    const labelNames = metric.label ? [metric.label] : [];
    const collect = function (this: Gauge | Counter) {
      const value = metric.read(read());
      this.reset();
      if (typeof value === 'number') return void add(this, {}, value);
      for (const [label, count] of Object.entries(value)) add(this, { [metric.label!]: label }, count);
    };
    const config = { name: prefix + metric.name, help: metric.help, labelNames, registers, collect };
    if (metric.kind === 'gauge') new Gauge(config);
    else new Counter(config);
  }
  const storeWrites = new Histogram({
    name: `${prefix}store_write_duration_seconds`,
    help: 'How long each write of events to the store took, until it committed.',
    buckets: STORE_WRITE_BUCKETS,
    registers,
  });
  const storedEvents = new Counter({
    name: `${prefix}store_written_events_total`,
    help: 'Events written to the store.',
    registers,
  });
  const busLag = new Histogram({
    name: `${prefix}bus_read_lag_seconds`,
    help: 'How long after the bus took an event a follower on this instance received it (clocks: see docs).',
    buckets: BUS_LAG_BUCKETS,
    registers,
  });
  const firstEvent = new Histogram({
    name: `${prefix}first_event_seconds`,
    help: 'Time from creating a stream to its first event.',
    buckets: FIRST_EVENT_BUCKETS,
    registers,
  });
  const stopListening = streams.listenToTimings({
    storeWrite: (seconds, events) => {
      storeWrites.observe(seconds);
      storedEvents.inc(events);
    },
    busLag: (seconds) => busLag.observe(seconds),
    firstEvent: (seconds) => firstEvent.observe(seconds),
  });
  return {
    names,
    unregister: () => {
      stopListening();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}

/** Sets a gauge, or brings a counter (reset just before) to the total the registry keeps. */
function add(metric: Gauge | Counter, labels: Record<string, string>, value: number): void {
  if (metric instanceof Gauge) metric.set(labels, value);
  else metric.inc(labels, value);
}
