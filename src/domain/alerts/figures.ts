import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { quotaSubjects } from '../../db/alerts.repository.js';
import { aggregateUsage, type AggregateDimension } from '../../db/stats.repository.js';
import { LimitKeys } from '../../gateway/limits/limit-keys.js';
import { UsageKeys } from '../../lib/budgets.js';
import { UpstreamStatsKeys } from '../../lib/stats-keys.js';
import type { DetectorFigures, ErrorFigures, MasterDay, MasterMinute, QuotaFigures } from './rules.js';
import type { AlertThresholds } from './thresholds.js';

/**
 * The I/O half of the detector: measures what the rules need (docs/alerts.md "Sources").
 * - Redis per-second counters (TTL 120 s), the last 60 complete seconds: global requests and
 *   tokens; per master requests, tokens and limit refusals. Masters are found by SCANning
 *   `stats:{rps,tps,limited}:master:*` (bounded), so an idle master costs nothing.
 * - usage_minutely (the error windows) and usage_hourly (the last 24 h).
 * - the gateways' per-minute upstream call counters (`stats:upstream:minute:*`, the provider
 *   window): every call, failed-over attempts included, which the log rows do not show (a row
 *   names only the upstream key that finally answered).
 * - keys / masters with a quota, and their live spend counters in Redis.
 */

export interface FigureDeps {
  knex: Knex;
  redis: Redis;
  /** Redis key prefix of the gateway counters (tests use a unique one; production ''). */
  prefix?: string;
  now(): Date;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** SCAN calls per tick at most (COUNT 1,000 each). */
const MAX_SCAN_CALLS = 1_000;
/** Masters measured per tick at most. */
const MAX_MASTERS = 10_000;
/** Quota subjects (keys, and masters) read per tick at most. */
export const MAX_QUOTA_SUBJECTS = 50_000;
const MGET_CHUNK = 1_000;

const toNumber = (v: string | null | undefined) => {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
};

async function mgetNumbers(redis: Redis, keys: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < keys.length; i += MGET_CHUNK) {
    const chunk = keys.slice(i, i + MGET_CHUNK);
    if (chunk.length > 0) out.push(...(await redis.mget(...chunk)).map(toNumber));
  }
  return out;
}

/** The 60 complete epoch seconds before the current one. */
export function lastMinuteSeconds(nowMs: number): number[] {
  const current = Math.floor(nowMs / 1_000);
  return Array.from({ length: 60 }, (_, i) => current - 60 + i);
}

/** Ids of masters with any per-second counter in Redis (bounded SCAN). */
async function activeMasterIds(redis: Redis, prefix: string): Promise<number[]> {
  const ids = new Set<number>();
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}stats:(?:rps|tps|limited):master:(\\d+):\\d+$`);
  let cursor = '0';
  for (let calls = 0; calls < MAX_SCAN_CALLS && ids.size < MAX_MASTERS; calls++) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}stats:*:master:*`, 'COUNT', 1_000);
    for (const key of keys) {
      const match = pattern.exec(key);
      if (match) ids.add(Number(match[1]));
    }
    cursor = next;
    if (cursor === '0') break;
  }
  return [...ids].sort((a, b) => a - b).slice(0, MAX_MASTERS);
}

async function globalMinute(redis: Redis, prefix: string, seconds: readonly number[]): Promise<{ requests: number; tokens: number }> {
  const values = await mgetNumbers(redis, seconds.flatMap((s) => [LimitKeys.statsRequests(prefix, s), LimitKeys.statsTokens(prefix, s)]));
  let requests = 0;
  let tokens = 0;
  for (let i = 0; i < seconds.length; i++) {
    requests += values[i * 2]!;
    tokens += values[i * 2 + 1]!;
  }
  return { requests, tokens };
}

async function masterMinutes(redis: Redis, prefix: string, seconds: readonly number[]): Promise<MasterMinute[]> {
  const ids = await activeMasterIds(redis, prefix);
  const keys = ids.flatMap((id) =>
    seconds.flatMap((s) => [LimitKeys.statsMasterRequests(prefix, id, s), LimitKeys.statsMasterTokens(prefix, id, s), LimitKeys.statsMasterLimited(prefix, id, s)]),
  );
  const values = await mgetNumbers(redis, keys);
  const per = seconds.length * 3;
  return ids.map((master_id, m) => {
    const figures = { master_id, requests: 0, tokens: 0, limited: 0 };
    for (let i = 0; i < seconds.length; i++) {
      figures.requests += values[m * per + i * 3]!;
      figures.tokens += values[m * per + i * 3 + 1]!;
      figures.limited += values[m * per + i * 3 + 2]!;
    }
    return figures;
  });
}

const minuteStart = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;

/** Requests and server errors (5xx, no answer) per dimension over the last `minutes` whole minutes. */
async function errorsBy(knex: Knex, dimension: AggregateDimension, nowMs: number, minutes: number): Promise<ErrorFigures[]> {
  const since = new Date(minuteStart(nowMs) - (minutes - 1) * MINUTE_MS);
  const rows = await aggregateUsage(knex, { source: 'minute', byTime: false, dimension, filter: { since } });
  return rows.filter((r) => r.dimension !== null).map((r) => ({ id: String(r.dimension), requests: Number(r.requests), errors: Number(r.server_errors) }));
}

/**
 * Calls and provider faults per upstream key over the last `minutes` whole UTC minutes (the current
 * one included), from the gateways' minute hashes; summed per provider group with the groups read
 * from api_keys (a key deleted since is left out of its group's sum).
 */
async function upstreamFaults(deps: FigureDeps, prefix: string, nowMs: number, minutes: number): Promise<{ byApiKey: ErrorFigures[]; byGroup: ErrorFigures[] }> {
  const current = Math.floor(nowMs / MINUTE_MS);
  const pipeline = deps.redis.pipeline();
  for (let m = current - minutes + 1; m <= current; m++) pipeline.hgetall(UpstreamStatsKeys.minute(prefix, m));
  const replies = (await pipeline.exec()) ?? [];
  const byKey = new Map<number, { requests: number; errors: number }>();
  for (const [err, hash] of replies) {
    if (err) throw err;
    for (const [field, value] of Object.entries((hash ?? {}) as Record<string, string>)) {
      const [idText, name] = field.split(':');
      const id = Number(idText);
      if (!Number.isSafeInteger(id) || id <= 0) continue;
      const entry = byKey.get(id) ?? { requests: 0, errors: 0 };
      if (name === 'requests') entry.requests += toNumber(value);
      else if (name === 'faults') entry.errors += toNumber(value);
      byKey.set(id, entry);
    }
  }
  const ids = [...byKey.keys()];
  const groups = ids.length === 0 ? [] : await deps.knex('api_keys').whereIn('id', ids).select<Array<{ id: number; group_id: number }>>('id', 'group_id');
  const byGroup = new Map<number, { requests: number; errors: number }>();
  for (const { id, group_id } of groups) {
    const key = byKey.get(Number(id))!;
    const entry = byGroup.get(Number(group_id)) ?? { requests: 0, errors: 0 };
    entry.requests += key.requests;
    entry.errors += key.errors;
    byGroup.set(Number(group_id), entry);
  }
  const figures = (m: Map<number, { requests: number; errors: number }>): ErrorFigures[] => [...m].map(([id, f]) => ({ id: String(id), requests: f.requests, errors: f.errors }));
  return { byApiKey: figures(byKey), byGroup: figures(byGroup) };
}

async function masterDays(knex: Knex, nowMs: number): Promise<MasterDay[]> {
  // The current hour and the 23 before it (usage_hourly's resolution).
  const since = new Date(Math.floor(nowMs / HOUR_MS) * HOUR_MS - 23 * HOUR_MS);
  const rows = await aggregateUsage(knex, { source: 'hour', byTime: false, dimension: 'master', filter: { since } });
  return rows
    .filter((r) => r.dimension !== null)
    .map((r) => ({ master_id: Number(r.dimension), requests: Number(r.requests), tokens: Number(r.prompt_tokens) + Number(r.completion_tokens) }));
}

async function quotas(knex: Knex, redis: Redis, prefix: string): Promise<QuotaFigures[]> {
  const rows = await quotaSubjects(knex, MAX_QUOTA_SUBJECTS);
  const live = await mgetNumbers(
    redis,
    rows.map((r) => (r.subject === 'key' ? UsageKeys.keySpent(prefix, r.id) : UsageKeys.masterSpent(prefix, r.id))),
  );
  return rows.map((r, i) => ({ subject: r.subject, id: r.id, limit: r.quota_limit, used: Math.max(r.quota_used, live[i] ?? 0) }));
}

/** Everything one tick measures. */
export async function collectFigures(deps: FigureDeps, t: AlertThresholds): Promise<DetectorFigures> {
  const prefix = deps.prefix ?? '';
  const nowMs = deps.now().getTime();
  const seconds = lastMinuteSeconds(nowMs);
  const [global, minutes, days, byKey, byModel, upstream, quotaFigures] = await Promise.all([
    globalMinute(deps.redis, prefix, seconds),
    masterMinutes(deps.redis, prefix, seconds),
    masterDays(deps.knex, nowMs),
    errorsBy(deps.knex, 'key', nowMs, t.error_window_minutes),
    errorsBy(deps.knex, 'model', nowMs, t.error_window_minutes),
    upstreamFaults(deps, prefix, nowMs, t.provider_window_minutes),
    quotas(deps.knex, deps.redis, prefix),
  ]);
  return {
    global,
    masterMinutes: minutes,
    masterDays: days,
    errorsByKey: byKey,
    errorsByModel: byModel,
    failuresByApiKey: upstream.byApiKey,
    failuresByProviderGroup: upstream.byGroup,
    quotas: quotaFigures,
  };
}
