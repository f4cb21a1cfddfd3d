import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { applyUpstreamCounters, purgeStatsHistory, type UpstreamCounterDelta } from '../db/stats.repository.js';
import { UpstreamStatsKeys } from '../lib/stats-keys.js';

/**
 * The `stats` flush (DESIGN §8): moves the gateway's per upstream key counters from Redis to
 * `api_keys` and `provider_groups`, exactly once, whatever crashes or retries in between.
 *
 * 1. drain (one Lua script, atomic): if a batch is already waiting in `stats:apikey:flushing`,
 *    return it unchanged; else pop the dirty ids, move their hashes into a new batch under a fresh
 *    random batch id, and return it.
 * 2. apply (one PostgreSQL transaction): insert the batch id into `stats_flushes`; only when that
 *    row is new, add the deltas to api_keys and provider_groups (`updated_at` untouched).
 * 3. finish: delete the batch from Redis, only if it is still the same batch id.
 *
 * A crash after 1 leaves the batch in Redis: the next run (retry, next tick, another worker)
 * applies it. A crash after 2 leaves an applied batch in Redis: the next run finds its id in
 * `stats_flushes`, skips it and deletes it. Two runs at once read the same batch; the primary key
 * lets one apply it. Counters the gateway adds meanwhile land in fresh hashes (the drain took the
 * old ones away) and the id back in the dirty set, for the next batch.
 */

const DRAIN = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {1, redis.call('HGETALL', KEYS[1])}
end
local ids = redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))
if #ids == 0 then return {0, {}} end
redis.call('HSET', KEYS[1], 'batch', ARGV[1])
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  local values = redis.call('HGETALL', key)
  for i = 1, #values, 2 do
    redis.call('HSET', KEYS[1], id .. ':' .. values[i], values[i + 1])
  end
  redis.call('DEL', key)
end
return {0, redis.call('HGETALL', KEYS[1])}
`;

const FINISH = `
if redis.call('HGET', KEYS[1], 'batch') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Upstream keys moved per batch (one Lua call holds Redis for about 10 µs per key). */
const BATCH_SIZE = 2_000;
/** Batches per run; the rest waits for the next tick. */
const MAX_BATCHES = 20;
/** stats_flushes rows and usage_minutely rows are kept this long. */
export const STATS_HISTORY_DAYS = 7;

export interface DrainedBatch {
  batchId: string;
  /** True when the batch was left by an earlier run rather than drained now. */
  resumed: boolean;
  deltas: UpstreamCounterDelta[];
}

/** Parses the flat `HGETALL` of a batch: `batch` and `<apiKeyId>:<field>` fields. */
export function parseBatch(flat: readonly string[], resumed: boolean): DrainedBatch | undefined {
  let batchId: string | undefined;
  const byKey = new Map<number, UpstreamCounterDelta>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i]!;
    const value = Number(flat[i + 1]);
    if (field === 'batch') {
      batchId = flat[i + 1];
      continue;
    }
    const [idText, name] = field.split(':');
    const id = Number(idText);
    if (!Number.isSafeInteger(id) || id <= 0 || !Number.isFinite(value)) continue;
    let delta = byKey.get(id);
    if (!delta) {
      delta = { api_key_id: id, requests: 0, success: 0, failure: 0, tokens: 0, last_used_at: null };
      byKey.set(id, delta);
    }
    if (name === 'requests' || name === 'success' || name === 'failure' || name === 'tokens') delta[name] += Math.trunc(value);
    else if (name === 'last_used_ms' && value > 0) delta.last_used_at = new Date(value).toISOString();
  }
  if (batchId === undefined) return undefined;
  return { batchId, resumed, deltas: [...byKey.values()].sort((a, b) => a.api_key_id - b.api_key_id) };
}

export interface StatsFlushDeps {
  knex: Knex;
  redis: Redis;
  /** Key prefix of the counters (the gateway's; '' in production). */
  prefix?: string;
  now?: () => Date;
}

/** Step 1: the batch waiting in Redis, or a new one drained from the dirty keys; undefined when there is nothing. */
export async function drainUpstreamCounters(deps: StatsFlushDeps, batchId: string = randomUUID()): Promise<DrainedBatch | undefined> {
  const prefix = deps.prefix ?? '';
  const [resumed, flat] = (await deps.redis.eval(
    DRAIN,
    2,
    UpstreamStatsKeys.flushing(prefix),
    UpstreamStatsKeys.dirty(prefix),
    batchId,
    UpstreamStatsKeys.apiKeyPrefix(prefix),
    String(BATCH_SIZE),
  )) as [number, string[]];
  return parseBatch(flat, resumed === 1);
}

/** Step 3: forget the batch in Redis (only if it is still this batch). */
export async function finishBatch(deps: StatsFlushDeps, batchId: string): Promise<void> {
  await deps.redis.eval(FINISH, 1, UpstreamStatsKeys.flushing(deps.prefix ?? ''), batchId);
}

export interface StatsFlushResult {
  /** Batches applied by this run. */
  applied: string[];
  /** Batches found already applied (an earlier run crashed after its commit). */
  skipped: string[];
  api_keys: number;
  requests: number;
  tokens: number;
}

/** Drains and applies until no counters are left (at most MAX_BATCHES batches). */
export async function flushUpstreamStats(deps: StatsFlushDeps): Promise<StatsFlushResult> {
  const result: StatsFlushResult = { applied: [], skipped: [], api_keys: 0, requests: 0, tokens: 0 };
  for (let i = 0; i < MAX_BATCHES; i++) {
    const batch = await drainUpstreamCounters(deps);
    if (!batch) break;
    const applied = await applyUpstreamCounters(deps.knex, batch.batchId, batch.deltas);
    if (applied) {
      result.applied.push(batch.batchId);
      result.api_keys += batch.deltas.length;
      for (const d of batch.deltas) {
        result.requests += d.requests;
        result.tokens += d.tokens;
      }
    } else {
      result.skipped.push(batch.batchId);
    }
    await finishBatch(deps, batch.batchId);
  }
  return result;
}

/** Housekeeping of the `stats` job: old minute aggregates and old flush ids. */
export async function purgeStatsTables(knex: Knex, now: Date): Promise<{ minutes: number; flushes: number }> {
  return purgeStatsHistory(knex, new Date(now.getTime() - STATS_HISTORY_DAYS * 86_400_000));
}
