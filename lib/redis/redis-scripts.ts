import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { BusEvent } from '../core/stream-bus.js';
import type { StreamState } from '../core/stream-event.js';

/**
 * The Lua scripts of `RedisStreamBus`, each run atomically by Redis. A stream's scripts touch
 * only its own keys and channels (hash tag `{id}`: one Cluster slot); the index scripts only the
 * index keys (tag `{index}`). Each key a script creates gets its TTL in the same script.
 */

/** Redis' clock in ms, the same for every instance (no clock skew between them). */
const NOW = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/**
 * KEYS: meta, events. ARGV: epoch, owner, held fence (0: none yet), last accepted sequence,
 * persisted through, running TTL, lost type, lost data, retention ms, stored (1/0), descriptor
 * (JSON, '' for none).
 * Returns {0} when another epoch holds the id, else {1, fence}: the token the owner holds from
 * now on. The owner saying it again after a reconnect (same epoch) writes back what Redis lost;
 * a stream ended or taken over meanwhile is left alone and keeps refusing the old token.
 */
export const CLAIM = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'owner', 'fence', 'status')
if m[1] and m[1] ~= ARGV[1] then return {0} end
local held = tonumber(ARGV[3])
if not m[1] then
  local fence = math.max(1, held)
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'owner', ARGV[2], 'fence', fence, 'status', 'running',
    'last', ARGV[4], 'persistedThrough', ARGV[5], 'lostType', ARGV[7], 'lostData', ARGV[8],
    'retentionMs', ARGV[9], 'stored', ARGV[10])
  if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'descriptor', ARGV[11]) end
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
  return {1, fence}
end
local fence = tonumber(m[3] or held)
local mine = (not m[2] or m[2] == ARGV[2]) and (held == 0 or not m[3] or fence == held)
if mine and (m[4] or 'running') == 'running' then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'fence', fence, 'status', 'running')
  -- An append may have written the hash again after Redis lost it, without the descriptor.
  if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'descriptor', ARGV[11]) end
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return {1, fence}
end
return {1, held}
`;

/**
 * KEYS: meta, events, events channel. ARGV: owner, fence, epoch, last accepted sequence, running
 * TTL, cap (0: none), lost type, lost data, retention ms, then sequence, type, data, final ('' or
 * a state) per event. Returns {1} when appended (events at or below the meta's last sequence are
 * a retry's and skipped), else {0, entries after the last accepted sequence}. The channel message
 * carries Redis' clock (`m`), from which followers measure how late they receive events.
 */
export const APPEND = `
${NOW}
local m = redis.call('HMGET', KEYS[1], 'epoch', 'owner', 'fence', 'status', 'last')
local last = tonumber(m[5] or 0)
if not m[1] then
  -- Redis lost the stream (a restart without persistence): the producer says it again.
  last = tonumber(ARGV[4])
  m = {ARGV[3], ARGV[1], ARGV[2], 'running'}
  redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'owner', ARGV[1], 'fence', ARGV[2], 'status', 'running',
    'last', last, 'persistedThrough', 0, 'lostType', ARGV[7], 'lostData', ARGV[8], 'retentionMs', ARGV[9])
end
if m[1] ~= ARGV[3] then return {0, {}} end
local mine = m[2] == ARGV[1] and m[3] == ARGV[2]
-- A retry of an append whose reply was lost: every event is there already.
if mine and tonumber(ARGV[#ARGV - 3]) <= last then return {1} end
if not mine or m[4] ~= 'running' then
  return {0, redis.call('XRANGE', KEYS[2], '(' .. ARGV[4] .. '-0', '+')}
end
local entries = {}
local status = 'running'
for i = 10, #ARGV, 4 do
  local sequence = tonumber(ARGV[i])
  if sequence > last then
    local final = ARGV[i + 3]
    local fields = {'t', ARGV[i + 1], 'd', ARGV[i + 2]}
    if final ~= '' then
      table.insert(fields, 'f')
      table.insert(fields, final)
      status = final
    end
    if ARGV[6] ~= '0' then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], sequence .. '-0', unpack(fields))
    else
      redis.call('XADD', KEYS[2], sequence .. '-0', unpack(fields))
    end
    last = sequence
    entries[#entries + 1] = {s = sequence, t = ARGV[i + 1], d = ARGV[i + 2], f = final, m = now}
  end
end
redis.call('HSET', KEYS[1], 'last', last, 'status', status)
local ttl = status == 'running' and ARGV[5] or ARGV[9]
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
if #entries > 0 then redis.call('SPUBLISH', KEYS[3], cjson.encode(entries)) end
return {1}
`;

/**
 * KEYS: meta, events, events channel. ARGV: the lost instance. Ends a stream still running under
 * that owner with its lost event (fence + 1: the old owner's appends are refused from now on);
 * anything else is left alone, so any number of sweepers may run it. 1 when it ended the stream.
 */
export const DECLARE_LOST = `
local m = redis.call('HMGET', KEYS[1], 'owner', 'status', 'fence', 'last', 'lostType', 'lostData', 'retentionMs')
if m[1] ~= ARGV[1] or m[2] ~= 'running' then return 0 end
local sequence = tonumber(m[4] or 0) + 1
local type = m[5] or 'error'
local data = m[6] or '{"status":"failed","reason":"producer_lost"}'
redis.call('XADD', KEYS[2], sequence .. '-0', 't', type, 'd', data, 'f', 'failed')
redis.call('HSET', KEYS[1], 'status', 'failed', 'fence', tonumber(m[3] or 1) + 1, 'last', sequence)
local retention = m[7] or '300000'
redis.call('PEXPIRE', KEYS[1], retention)
redis.call('PEXPIRE', KEYS[2], retention)
redis.call('SPUBLISH', KEYS[3], cjson.encode({{s = sequence, t = type, d = data, f = 'failed'}}))
return 1
`;

/**
 * KEYS: meta, events, events channel. ARGV: stored through, first sequence to keep. Records how
 * far the store holds the stream, drops what it holds beyond the newest events, and tells the
 * followers (they may then resume old positions from the store). Writes nothing to a missing
 * stream: a key created here would have no TTL.
 */
export const PERSISTED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local stored = tonumber(redis.call('HGET', KEYS[1], 'persistedThrough') or 0)
if tonumber(ARGV[1]) <= stored then return 0 end
redis.call('HSET', KEYS[1], 'persistedThrough', ARGV[1])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2] .. '-0')
redis.call('SPUBLISH', KEYS[3], '{"p":' .. ARGV[1] .. '}')
return 1
`;

/**
 * KEYS: instances, this instance's owned set. ARGV: instance, lease ms, index TTL. Renews the
 * instance's lease (score: expiry, by Redis' clock) and returns the instances whose lease ran out.
 */
export const RENEW = `
${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 100)
`;

/**
 * KEYS: instances, the lost instance's owned set. ARGV: instance. Forgets an instance once its
 * streams are swept, unless it renewed its lease meanwhile or owns a stream it added since.
 */
export const FORGET = `
${NOW}
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) >= now or redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`;

/** KEYS: an active index key. ARGV: stream id. Deletes the key only while it names that stream. */
export const DROP_ACTIVE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type Client = Redis | Cluster;

/**
 * Runs scripts by their SHA1 (EVALSHA), sending the source once more (EVAL) on NOSCRIPT, i.e. after
 * Redis restarted. The retry goes out before the caller's next command, so a stream's appends
 * (one in flight at a time) keep their order.
 */
export class ScriptRunner {
  private readonly shas = new Map<string, string>();

  constructor(private readonly client: Client) {}

  async run<T>(script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
    let sha = this.shas.get(script);
    if (!sha) this.shas.set(script, (sha = createHash('sha1').update(script).digest('hex')));
    try {
      return (await this.client.evalsha(sha, keys.length, ...keys, ...args)) as T;
    } catch (error) {
      if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
      return (await this.client.eval(script, keys.length, ...keys, ...args)) as T;
    }
  }
}

/** A Redis Stream entry as the bus hands it on. */
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

/** What an events channel carries: the events of one append, or how far the stream is stored. */
export type ChannelMessage = { readonly events: BusEvent[] } | { readonly storedThrough: number };

/** Reads an events channel message (written by the scripts above); undefined when malformed. */
export function parseChannelMessage(message: string): ChannelMessage | undefined {
  try {
    const parsed = JSON.parse(message) as unknown;
    if (Array.isArray(parsed)) {
      const events = parsed.map((entry: { s: number; t: string; d: string; f?: string; m?: number }) => ({
        sequence: Number(entry.s),
        type: String(entry.t),
        data: String(entry.d),
        ...(entry.f ? { final: entry.f as StreamState } : {}),
        ...(typeof entry.m === 'number' ? { producedAt: entry.m } : {}),
      }));
      return events.every((event) => Number.isSafeInteger(event.sequence)) ? { events } : undefined;
    }
    const stored = (parsed as { p?: unknown } | null)?.p;
    return typeof stored === 'number' ? { storedThrough: stored } : undefined;
  } catch {
    return undefined;
  }
}
