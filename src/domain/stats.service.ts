import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { findMasterById } from '../db/masters.repository.js';
import {
  aggregateUsage,
  apiKeyStats,
  countEntities,
  groupCounters,
  type AggregateDimension,
  type AggregateRow,
  type EntityCounts,
} from '../db/stats.repository.js';
import { LimitKeys } from '../gateway/limits/limit-keys.js';
import { NotFoundError, ValidationError } from '../lib/errors.js';
import { histogramPercentile } from './latency-histogram.js';
import { STATS_HISTORY_DAYS } from './stats-flush.service.js';

/**
 * Stats, dashboard and realtime figures (docs/control-plane.md "Stats"). Usage figures come from
 * `usage_hourly` / `usage_minutely`, realtime figures from the gateway's per-second Redis
 * counters (docs/limits.md), upstream key counters from the columns the `stats` job fills — never
 * from a scan of request_logs.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** `group_by=minute` covers at most this much (between `since` and `until`). */
export const MINUTE_RANGE_MS = 6 * HOUR_MS;
/** Any stats query covers at most this much. */
export const MAX_RANGE_MS = 366 * DAY_MS;

const floorTo = (ms: number, unit: number) => Math.floor(ms / unit) * unit;
const ceilTo = (ms: number, unit: number) => Math.ceil(ms / unit) * unit;
const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** The figures of one group of aggregate rows. */
export interface UsageFigures {
  requests: number;
  success: number;
  /** 4xx + 5xx + requests without an upstream status. */
  errors: number;
  client_errors: number;
  server_errors: number;
  /** errors / requests (0 without requests). */
  error_rate: number;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** prompt + completion. */
  total_tokens: number;
  cost_list: number;
  cost_actual: number;
  latency_ms: { avg: number | null; p50: number | null; p95: number | null; max: number | null; samples: number };
  ttft_ms_avg: number | null;
}

export function figuresOf(row: AggregateRow): UsageFigures {
  const errors = row.client_errors + row.server_errors;
  const samples = row.latency_buckets.reduce((n, c) => n + c, 0);
  return {
    requests: row.requests,
    success: row.success,
    errors,
    client_errors: row.client_errors,
    server_errors: row.server_errors,
    error_rate: ratio(errors, row.requests),
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    cache_read_tokens: row.cache_read_tokens,
    cache_write_tokens: row.cache_write_tokens,
    total_tokens: row.prompt_tokens + row.completion_tokens,
    cost_list: row.cost_list,
    cost_actual: row.cost_actual,
    latency_ms: {
      avg: row.requests > 0 ? row.latency_ms_sum / row.requests : null,
      p50: histogramPercentile(row.latency_buckets, 0.5, row.latency_ms_max),
      p95: histogramPercentile(row.latency_buckets, 0.95, row.latency_ms_max),
      max: row.requests > 0 ? row.latency_ms_max : null,
      samples,
    },
    ttft_ms_avg: row.ttft_count > 0 ? row.ttft_ms_sum / row.ttft_count : null,
  };
}

function rangeError(field: 'since' | 'until', message: string): ValidationError {
  return new ValidationError('Request validation failed', [{ field: `query.${field}`, message }]);
}

// ---------------------------------------------------------------------------------------------
// GET /admin/logs/stats

export type StatsGroupBy = 'hour' | 'minute' | 'model' | 'key' | 'master' | 'provider';
export type StatsSplitBy = 'model' | 'key' | 'master' | 'provider';

export interface LogStatsInput {
  group_by: StatsGroupBy;
  split_by?: StatsSplitBy;
  since?: Date;
  until?: Date;
  master_id?: number;
  key_id?: number;
  model?: string;
  provider_group_id?: number;
}

export interface LogStatsRow extends UsageFigures {
  time?: string;
  model?: string | null;
  key_id?: number | null;
  master_id?: number | null;
  provider_group_id?: number | null;
}

export interface LogStats {
  group_by: StatsGroupBy;
  split_by: StatsSplitBy | null;
  resolution: 'hour' | 'minute';
  /** The range actually summed: `since` floored and `until` ceiled to the resolution. */
  since: string;
  until: string;
  data: LogStatsRow[];
  totals: UsageFigures;
}

const DIMENSION_FIELD: Record<StatsSplitBy, 'model' | 'key_id' | 'master_id' | 'provider_group_id'> = {
  model: 'model',
  key: 'key_id',
  master: 'master_id',
  provider: 'provider_group_id',
};

/**
 * Usage grouped by hour or minute and/or by model, key, master or provider group. Defaults: until
 * now, since 24 h earlier (1 h for minutes). Minute grouping refuses a range above 6 h and a
 * `since` older than the minute aggregates' retention (7 days).
 */
export async function logStats(db: Knex, input: LogStatsInput, now: Date): Promise<LogStats> {
  const resolution = input.group_by === 'minute' ? 'minute' : 'hour';
  const unit = resolution === 'minute' ? MINUTE_MS : HOUR_MS;
  const untilMs = (input.until ?? now).getTime();
  const sinceMs = (input.since ?? new Date(untilMs - (resolution === 'minute' ? HOUR_MS : DAY_MS))).getTime();
  if (sinceMs >= untilMs) throw rangeError('until', 'Must be later than `since`');
  if (input.split_by && input.group_by !== 'hour' && input.group_by !== 'minute') {
    throw new ValidationError('Request validation failed', [{ field: 'query.split_by', message: '`split_by` needs `group_by=hour` or `group_by=minute`' }]);
  }
  if (resolution === 'minute') {
    if (untilMs - sinceMs > MINUTE_RANGE_MS) throw rangeError('since', 'Grouping by minute covers at most 6 hours: `since` must be at most 6 h before `until`');
    if (sinceMs < now.getTime() - STATS_HISTORY_DAYS * DAY_MS) throw rangeError('since', `Minute aggregates are kept ${STATS_HISTORY_DAYS} days; group by hour for older ranges`);
  } else if (untilMs - sinceMs > MAX_RANGE_MS) {
    throw rangeError('since', 'A stats range covers at most 366 days');
  }
  const since = new Date(floorTo(sinceMs, unit));
  const until = new Date(ceilTo(untilMs, unit));
  const byTime = input.group_by === 'hour' || input.group_by === 'minute';
  const dimensionName: StatsSplitBy | undefined = byTime ? input.split_by : (input.group_by as StatsSplitBy);
  const filter = {
    since,
    until,
    ...(input.master_id !== undefined ? { master_id: input.master_id } : {}),
    ...(input.key_id !== undefined ? { key_id: input.key_id } : {}),
    ...(input.model !== undefined ? { model: input.model } : {}),
    ...(input.provider_group_id !== undefined ? { provider_group_id: input.provider_group_id } : {}),
  };
  const [rows, totals] = await Promise.all([
    aggregateUsage(db, { source: resolution, byTime, ...(dimensionName ? { dimension: dimensionName as AggregateDimension } : {}), filter }),
    aggregateUsage(db, { source: resolution, byTime: false, filter }),
  ]);
  return {
    group_by: input.group_by,
    split_by: byTime ? (input.split_by ?? null) : null,
    resolution,
    since: since.toISOString(),
    until: until.toISOString(),
    data: rows.map((row) => {
      const out: LogStatsRow = figuresOf(row);
      if (byTime && row.time) out.time = new Date(row.time).toISOString();
      if (dimensionName) Object.assign(out, { [DIMENSION_FIELD[dimensionName]]: row.dimension });
      return out;
    }),
    totals: figuresOf(totals[0]!),
  };
}

// ---------------------------------------------------------------------------------------------
// GET /admin/dashboard/summary

export const DASHBOARD_PERIODS = { '1h': 1, '6h': 6, '24h': 24, '7d': 7 * 24, '30d': 30 * 24 } as const;
export type DashboardPeriod = keyof typeof DASHBOARD_PERIODS;

export interface DashboardSummary extends UsageFigures {
  period: DashboardPeriod;
  since: string;
  until: string;
  counts: EntityCounts;
  top_models: Array<{ model: string | null; requests: number; total_tokens: number; cost_actual: number; error_rate: number }>;
}

/** The last N hourly buckets, the current (partial) hour included. */
export async function dashboardSummary(db: Knex, period: DashboardPeriod, now: Date): Promise<DashboardSummary> {
  const until = new Date(floorTo(now.getTime(), HOUR_MS) + HOUR_MS);
  const since = new Date(until.getTime() - DASHBOARD_PERIODS[period] * HOUR_MS);
  const filter = { since, until };
  const [totals, models, counts] = await Promise.all([
    aggregateUsage(db, { source: 'hour', byTime: false, filter }),
    aggregateUsage(db, { source: 'hour', byTime: false, dimension: 'model', filter, top: 10 }),
    countEntities(db),
  ]);
  return {
    period,
    since: since.toISOString(),
    until: until.toISOString(),
    ...figuresOf(totals[0]!),
    counts,
    top_models: models.map((row) => {
      const f = figuresOf(row);
      return { model: row.dimension === null ? null : String(row.dimension), requests: f.requests, total_tokens: f.total_tokens, cost_actual: f.cost_actual, error_rate: f.error_rate };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Realtime (GET /admin/realtime, /admin/masters/:id/realtime, /v1/realtime)

/** Seconds averaged for `qps` (the complete seconds before the current one). */
export const QPS_WINDOW_SECONDS = 10;
/** A refusal within this many seconds (the current one included) means "being rate limited". */
export const LIMITED_WINDOW_SECONDS = 10;

export interface RealtimeStats {
  scope: 'global' | 'master';
  master_id: number | null;
  /** The epoch second the figures are relative to (the current, incomplete one). */
  second: number;
  at: string;
  /** Requests admitted per second, averaged over the 10 complete seconds before `second`. */
  qps: number;
  /** Requests admitted in the 60 complete seconds before `second`. */
  rpm: number;
  /** Tokens settled in the same 60 seconds. */
  tpm: number;
  /** Requests refused by a limit in the same 60 seconds. */
  limited_last_minute: number;
  /** A request was refused by a limit in the last 10 seconds (the current one included). */
  rate_limited: boolean;
  /** The master's QPS limit (0 = unlimited); master views only. */
  qps_limit?: number;
  /** The 60 complete seconds, oldest first. */
  series: Array<{ second: number; requests: number; tokens: number; limited: number }>;
}

/** Reads the last 61 seconds of counters in one MGET. */
export async function realtimeStats(redis: Redis, scope: { masterId?: number; prefix?: string }, nowMs: number): Promise<RealtimeStats> {
  const prefix = scope.prefix ?? '';
  const current = Math.floor(nowMs / 1_000);
  const seconds = Array.from({ length: 61 }, (_, i) => current - 60 + i);
  const id = scope.masterId;
  const keys = seconds.flatMap((s) =>
    id === undefined
      ? [LimitKeys.statsRequests(prefix, s), LimitKeys.statsTokens(prefix, s), LimitKeys.statsLimited(prefix, s)]
      : [LimitKeys.statsMasterRequests(prefix, id, s), LimitKeys.statsMasterTokens(prefix, id, s), LimitKeys.statsMasterLimited(prefix, id, s)],
  );
  const values = (await redis.mget(...keys)).map((v) => {
    const n = Number(v ?? 0);
    return Number.isFinite(n) ? n : 0;
  });
  const per = seconds.map((second, i) => ({ second, requests: values[i * 3]!, tokens: values[i * 3 + 1]!, limited: values[i * 3 + 2]! }));
  const complete = per.slice(0, 60);
  const sum = (list: typeof per, field: 'requests' | 'tokens' | 'limited') => list.reduce((n, p) => n + p[field], 0);
  return {
    scope: id === undefined ? 'global' : 'master',
    master_id: id ?? null,
    second: current,
    at: new Date(current * 1_000).toISOString(),
    qps: sum(complete.slice(-QPS_WINDOW_SECONDS), 'requests') / QPS_WINDOW_SECONDS,
    rpm: sum(complete, 'requests'),
    tpm: sum(complete, 'tokens'),
    limited_last_minute: sum(complete, 'limited'),
    rate_limited: sum(per.slice(-LIMITED_WINDOW_SECONDS), 'limited') > 0,
    series: complete,
  };
}

/** A master's realtime view; 404 for an unknown master. */
export async function masterRealtimeStats(db: Knex, redis: Redis, masterId: number, nowMs: number): Promise<RealtimeStats> {
  const master = await findMasterById(db, masterId);
  if (!master) throw new NotFoundError('master', masterId);
  const stats = await realtimeStats(redis, { masterId }, nowMs);
  return { ...stats, qps_limit: master.global_qps };
}

// ---------------------------------------------------------------------------------------------
// GET /admin/api-keys/stats/summary

export interface ApiKeyCounters {
  requests: number;
  success: number;
  failure: number;
  tokens: number;
}

export interface ApiKeysSummary {
  /** The window of `window` figures (hour-aligned), null when unbounded. */
  since: string | null;
  until: string | null;
  totals: { lifetime: ApiKeyCounters; window: ApiKeyCounters & { cost_actual: number } };
  data: Array<{
    api_key_id: number;
    group_id: number;
    group_name: string;
    name: string;
    status: string;
    last_used_at: string | null;
    lifetime: ApiKeyCounters;
    window: ApiKeyCounters & { cost_actual: number; avg_latency_ms: number | null; error_rate: number };
  }>;
  groups: Array<{ group_id: number; name: string; last_used_at: string | null; lifetime: ApiKeyCounters }>;
}

/**
 * Per upstream key: `lifetime` = the counters the `stats` job flushed from the gateway (every
 * upstream call, failovers included), `window` = usage_hourly within [since, until) (requests by
 * the key that served them last). Both bounds optional; aligned outward to whole hours.
 */
export async function apiKeysSummary(db: Knex, input: { since?: Date; until?: Date; group_id?: number }): Promise<ApiKeysSummary> {
  if (input.since && input.until && input.since >= input.until) throw rangeError('until', 'Must be later than `since`');
  const since = input.since ? new Date(floorTo(input.since.getTime(), HOUR_MS)) : undefined;
  const until = input.until ? new Date(ceilTo(input.until.getTime(), HOUR_MS)) : undefined;
  const [rows, groups] = await Promise.all([
    apiKeyStats(db, { ...(since ? { since } : {}), ...(until ? { until } : {}), ...(input.group_id !== undefined ? { group_id: input.group_id } : {}) }),
    groupCounters(db, input.group_id),
  ]);
  const lifetime: ApiKeyCounters = { requests: 0, success: 0, failure: 0, tokens: 0 };
  const window = { requests: 0, success: 0, failure: 0, tokens: 0, cost_actual: 0 };
  const data = rows.map((r) => {
    lifetime.requests += r.request_count;
    lifetime.success += r.success_count;
    lifetime.failure += r.failure_count;
    lifetime.tokens += r.token_count;
    window.requests += r.window_requests;
    window.success += r.window_success;
    window.failure += r.window_failure;
    window.tokens += r.window_tokens;
    window.cost_actual += r.window_cost_actual;
    return {
      api_key_id: r.id,
      group_id: r.group_id,
      group_name: r.group_name,
      name: r.name,
      status: r.status,
      last_used_at: r.last_used_at ? r.last_used_at.toISOString() : null,
      lifetime: { requests: r.request_count, success: r.success_count, failure: r.failure_count, tokens: r.token_count },
      window: {
        requests: r.window_requests,
        success: r.window_success,
        failure: r.window_failure,
        tokens: r.window_tokens,
        cost_actual: r.window_cost_actual,
        avg_latency_ms: r.window_requests > 0 ? r.window_latency_ms_sum / r.window_requests : null,
        error_rate: ratio(r.window_failure, r.window_requests),
      },
    };
  });
  return {
    since: since ? since.toISOString() : null,
    until: until ? until.toISOString() : null,
    totals: { lifetime, window },
    data,
    groups: groups.map((g) => ({
      group_id: g.id,
      name: g.name,
      last_used_at: g.last_used_at ? g.last_used_at.toISOString() : null,
      lifetime: { requests: g.request_count, success: g.success_count, failure: g.failure_count, tokens: g.token_count },
    })),
  };
}
