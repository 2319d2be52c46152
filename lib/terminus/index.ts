export { StreamingHealthIndicator, HEALTH_CHECK_TIMEOUT_MS } from './streaming-health.indicator.js';
