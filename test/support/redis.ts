import { randomBytes } from 'node:crypto';
import { afterEach } from '@jest/globals';
import { StreamRegistry, type StreamFinishedInfo } from 'nestjs-meridian-stream';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';

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

/**
 * Registers an afterEach that shuts down every registry made by the returned `instances(count)`:
 * `count` registries (no heartbeats), each with its own RedisStreamBus on one new key prefix of
 * the shared Redis, each recording its finish-hook calls.
 */
export function redisInstances() {
  let registries: StreamRegistry[] = [];
  afterEach(async () => {
    await Promise.all(registries.map((registry) => registry.shutdown({ graceMs: 0 })));
    registries = [];
  });
  return function instances(count: number) {
    const keyPrefix = uniquePrefix();
    return Array.from({ length: count }, () => {
      const calls: StreamFinishedInfo[] = [];
      const bus = new RedisStreamBus({ connection: process.env.REDIS_URL!, keyPrefix });
      const registry = new StreamRegistry({ heartbeatMs: 0, bus, onStreamFinished: (info) => void calls.push(info) });
      registries.push(registry);
      return { registry, calls, bus };
    });
  };
}
