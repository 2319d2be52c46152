import { randomBytes } from 'node:crypto';

/**
 * Whether suites that need Redis can run: REDIS_URL reachable (checked by test/global-setup.ts,
 * which fails the run under CI=true when it is not). Elsewhere they skip, loudly.
 */
export function redisAvailable(): boolean {
  if (process.env.MERIDIAN_SERVICE_REDIS === 'up') return true;
  console.warn(
    `!!! Redis cases SKIPPED: REDIS_URL is ${process.env.REDIS_URL ? 'unreachable' : 'unset'} (e.g. redis://127.0.0.1:6379).`,
  );
  return false;
}

/** A key prefix no other test run uses. */
export const uniquePrefix = () => `meridian-test:${randomBytes(4).toString('hex')}:`;
