/**
 * `nestjs-meridian-stream/terminus`: a health indicator for `@nestjs/terminus`. Needs the optional
 * peer dependency `@nestjs/terminus`.
 *
 * @module nestjs-meridian-stream/terminus
 */
import { loadWithOptionalPeer } from '../packaging/optional-peer.js';
import type * as Implementation from './streaming-health.indicator.js';

// Loaded only once the optional peer is known to be installed, so that a missing one gives an
// error naming the package to install instead of a module-resolution failure.
const terminus = await loadWithOptionalPeer(
  '@nestjs/terminus',
  'nestjs-meridian-stream/terminus',
  () => import('./streaming-health.indicator.js'),
);

/**
 * A `@nestjs/terminus` health indicator for the streaming module: down when the configured store
 * or bus does not answer (each within {@link HEALTH_CHECK_TIMEOUT_MS}), up otherwise, with the
 * registry's figures (streams, clients, events per second) as details. Provide it in a module
 * that imports `TerminusModule`, and call `isHealthy()` from your `@HealthCheck()` route.
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.streaming.isHealthy()]); }
 * ```
 * @class
 */
export const StreamingHealthIndicator = terminus.StreamingHealthIndicator;
export type StreamingHealthIndicator = Implementation.StreamingHealthIndicator;
/** How long one check of the store or the bus may take before it counts as down (ms). */
export const HEALTH_CHECK_TIMEOUT_MS = terminus.HEALTH_CHECK_TIMEOUT_MS;
