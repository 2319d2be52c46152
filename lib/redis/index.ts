export { RedisStreamBus, type RedisStreamBusOptions } from './redis-stream-bus.js';
