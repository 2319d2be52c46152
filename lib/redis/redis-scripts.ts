import type { BusEvent } from '../core/stream-bus.js';
import type { StreamState } from '../core/stream-event.js';

/** The Lua scripts of `RedisStreamBus`, each run atomically by Redis, and how its entries are read. */

/** KEYS: meta, lease. ARGV: epoch, owner, persisted through, lease ms. 0 when another epoch holds the id. */
export const CLAIM = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch and epoch ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'owner', ARGV[2], 'persistedThrough', ARGV[3])
redis.call('HSETNX', KEYS[1], 'status', 'running')
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
return 1
`;

/** KEYS: lease, events, meta. ARGV: entry id, type, data, final state, retention ms. */
export const DECLARE_LOST = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('XADD', KEYS[2], ARGV[1], 't', ARGV[2], 'd', ARGV[3], 'f', ARGV[4])
redis.call('HSET', KEYS[3], 'status', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 1
`;

export function toBusEvent(id: string, fields: string[]): BusEvent {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i]] = fields[i + 1];
  return {
    sequence: Number(id.split('-')[0]),
    type: values.t,
    data: values.d,
    ...(values.f ? { final: values.f as StreamState } : {}),
  };
}
