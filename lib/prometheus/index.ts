/**
 * `nestjs-meridian-stream/prometheus`: the streaming metrics on a prom-client registry, for
 * Prometheus (with `@willsoto/nestjs-prometheus`'s `/metrics`, or your own route). Needs the
 * optional peer dependency `prom-client`. The metrics are listed in docs/metrics.md.
 *
 * @module nestjs-meridian-stream/prometheus
 */
import { loadWithOptionalPeer } from '../packaging/optional-peer.js';
import type * as Registration from './register-stream-metrics.js';
import type * as Module from './streaming-metrics.module.js';

// Loaded only once the optional peer is known to be installed, so that a missing one gives an
// error naming the package to install instead of a module-resolution failure.
const [registration, module] = await loadWithOptionalPeer('prom-client', 'nestjs-meridian-stream/prometheus', () =>
  Promise.all([import('./register-stream-metrics.js'), import('./streaming-metrics.module.js')]),
);

/**
 * Registers the streaming metrics of a `StreamRegistry` on a prom-client registry (default: the
 * global `register`); returns `{ names, unregister() }`. Gauges and counters are read from
 * `stats()` at scrape time, histograms are fed as things happen.
 * @throws MetricsAlreadyRegisteredError when the registry has one of the names already.
 */
export const registerStreamMetrics = registration.registerStreamMetrics;
/**
 * Thrown when the prom-client registry already has a metric of the same name.
 * @class
 */
export const MetricsAlreadyRegisteredError = registration.MetricsAlreadyRegisteredError;
export type MetricsAlreadyRegisteredError = Registration.MetricsAlreadyRegisteredError;
export type { RegisteredStreamMetrics, StreamMetricsOptions } from './register-stream-metrics.js';
/**
 * `StreamingMetricsModule.forRoot({ registry?, prefix? })`: registers the streaming metrics while
 * the app runs (and removes them when it closes). Import it next to `StreamingModule`.
 * @class
 */
export const StreamingMetricsModule = module.StreamingMetricsModule;
export type StreamingMetricsModule = Module.StreamingMetricsModule;
/**
 * The provider of `StreamingMetricsModule`.
 * @class
 */
export const StreamingMetrics = module.StreamingMetrics;
export type StreamingMetrics = Module.StreamingMetrics;
