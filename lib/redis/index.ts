/**
 * `nestjs-meridian-stream/redis`: the stream bus on Redis, for several instances that share their
 * streams. Needs the optional peer dependency `ioredis`.
 *
 * The implementation is reached through a dynamic `import()` after `ioredis` is found, so that an
 * app without it gets an error naming the package to install (see `loadWithOptionalPeer`). Values
 * are re-exported from the loaded module; each class is exported as a value and a type of the same
 * name, so it works in `new`, `instanceof`, `extends`, type positions and Nest injection alike.
 *
 * @module nestjs-meridian-stream/redis
 */
import { loadWithOptionalPeer } from '../packaging/optional-peer.js';
import type * as Implementation from './redis-stream-bus.js';

const redis = await loadWithOptionalPeer(
  'ioredis',
  'nestjs-meridian-stream/redis',
  () => import('./redis-stream-bus.js'),
);

/**
 * The stream bus on Redis (`StreamingModule` option `bus`): each stream's events are a Redis
 * Stream, so several instances serve the same streams.
 *
 * ```ts
 * StreamingModule.forRoot({ bus: new RedisStreamBus({ connection: 'redis://127.0.0.1:6379' }) });
 * ```
 * @class
 */
export const RedisStreamBus = redis.RedisStreamBus;
/**
 * The stream bus on Redis (`StreamingModule` option `bus`): each stream's events are a Redis
 * Stream, so several instances serve the same streams. See the class in `redis-stream-bus.ts`.
 */
export type RedisStreamBus = Implementation.RedisStreamBus;

export type { RedisStreamBusOptions } from './redis-stream-bus.js';
