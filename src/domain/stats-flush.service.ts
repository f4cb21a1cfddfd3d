import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { lockApplier } from '../db/outbox.repository.js';
import { applyUpstreamCounters, purgeStatsHistory, raiseQuotaUsed, type UpstreamCounterDelta } from '../db/stats.repository.js';
import { UsageKeys } from '../lib/budgets.js';
import { UpstreamStatsKeys } from '../lib/stats-keys.js';

/**
 * The `stats` flush (DESIGN §8): moves the gateway's per upstream key counters from Redis to
 * `api_keys` and `provider_groups`, exactly once, whatever crashes or retries in between; and
 * persists the child keys' and masters' live spend into quota_used (`flushSpent`, below).
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

// ---------------------------------------------------------------------------------------------
// Lifetime spend (issue #6, docs/budgets.md "Control plane")
// ---------------------------------------------------------------------------------------------

/**
 * Moves a batch of dirty ids into `<dirty set>:flushing` (a hash: `batch` → batch id, `<id>` → 1),
 * or returns the batch already waiting there (an earlier run that stopped before finishing).
 */
const DRAIN_SPENT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ids = {}
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if field ~= 'batch' then ids[#ids + 1] = field end
  end
  return {redis.call('HGET', KEYS[1], 'batch') or '', ids}
end
local ids = redis.call('SPOP', KEYS[2], tonumber(ARGV[2]))
if #ids == 0 then return {'', {}} end
redis.call('HSET', KEYS[1], 'batch', ARGV[1])
for _, id in ipairs(ids) do redis.call('HSET', KEYS[1], id, '1') end
return {ARGV[1], ids}
`;

/** Ids per spend batch (one UPDATE each). */
const SPENT_BATCH_SIZE = 5_000;
/** How long a flush waits for the sync applier lock (ms). */
const SPENT_LOCK_TIMEOUT_MS = 30_000;

const spentSubjects = {
  key: { dirty: UsageKeys.dirtyKeys, spent: UsageKeys.keySpent },
  master: { dirty: UsageKeys.dirtyMasters, spent: UsageKeys.masterSpent },
} as const;

/** A Redis counter value as whole µ$ (absent, unreadable or negative = nothing to record). */
export function spentMicros(value: string | null): number | undefined {
  if (value === null) return undefined;
  const n = Math.floor(Number(value));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export interface SpentFlushResult {
  /** Ids read from the dirty sets. */
  keys: number;
  masters: number;
  /** Rows whose quota_used went up. */
  raised: number;
}

/**
 * Persists the gateways' live spend counters (`usage:<key|master>:<id>:spent`) of every id in the
 * dirty sets: quota_used = greatest(quota_used, spent), one UPDATE per batch. Setting an absolute
 * value with greatest() is idempotent, so a retried or concurrent run changes nothing twice, and a
 * batch left in `…:flushing` by a crash is simply read again. Exhaustion is not decided here (the
 * gateway's `quota_exhausted` event does that): a flush never changes a status.
 *
 * The read of the counters and the UPDATE run under the sync applier's lock, so a quota reset is
 * either fully applied to Redis before the read or still pending (and then left out by the
 * UPDATE): a flush can never write the pre-reset spend back into PostgreSQL.
 */
export async function flushSpent(deps: StatsFlushDeps): Promise<SpentFlushResult> {
  const prefix = deps.prefix ?? '';
  const result: SpentFlushResult = { keys: 0, masters: 0, raised: 0 };
  for (const subject of ['key', 'master'] as const) {
    const names = spentSubjects[subject];
    const flushing = `${names.dirty(prefix)}:flushing`;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const batch = await deps.knex.transaction(async (trx) => {
        await lockApplier(trx, SPENT_LOCK_TIMEOUT_MS);
        const [batchId, rawIds] = (await deps.redis.eval(DRAIN_SPENT, 2, flushing, names.dirty(prefix), randomUUID(), String(SPENT_BATCH_SIZE))) as [string, string[]];
        if (batchId === '') return undefined;
        const ids = rawIds.map(Number).filter((id) => Number.isSafeInteger(id) && id > 0);
        const counters = ids.length ? await deps.redis.mget(...ids.map((id) => names.spent(prefix, id))) : [];
        const values = ids.flatMap((id, j) => {
          const spent = spentMicros(counters[j] ?? null);
          return spent === undefined ? [] : [{ id, spent }];
        });
        const raised = await raiseQuotaUsed(trx, subject, values);
        return { batchId, ids: ids.length, raised };
      });
      if (!batch) break;
      await deps.redis.eval(FINISH, 1, flushing, batch.batchId);
      result[subject === 'key' ? 'keys' : 'masters'] += batch.ids;
      result.raised += batch.raised;
      if (batch.ids < SPENT_BATCH_SIZE) break;
    }
  }
  return result;
}
