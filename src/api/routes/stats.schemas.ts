import { z } from 'zod';
import { queryInstant } from './common.schemas.js';
import { DASHBOARD_PERIODS } from '../../domain/stats.service.js';

/** Schemas of the stats, dashboard and realtime routes (docs/control-plane.md "Stats"). */

const instant = queryInstant;
const id = (description: string) => z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().meta({ description });

export const logStatsQuerySchema = z
  .object({
    group_by: z
      .enum(['hour', 'minute', 'model', 'key', 'master', 'provider'])
      .default('hour')
      .meta({ description: 'Time bucket (`hour`, `minute`: at most 6 h) or dimension (`provider` = provider group)' }),
    split_by: z.enum(['model', 'key', 'master', 'provider']).optional().meta({ description: 'With group_by=hour|minute: split each time bucket by this dimension' }),
    since: instant('Start (default: 24 h before `until`, 1 h for minutes); floored to the resolution'),
    until: instant('End (default: now); ceiled to the resolution'),
    master_id: id('Only this master'),
    key_id: id('Only this child key'),
    model: z.string().min(1).max(200).optional().meta({ description: 'Only this public model' }),
    provider_group_id: id('Only this provider group'),
  })
  .strict();

const latencySchema = z.object({
  avg: z.number().nullable().meta({ description: 'latency_ms_sum / requests' }),
  p50: z.number().nullable().meta({ description: 'Nearest-rank p50, to the histogram bucket (upper bound, capped by max)' }),
  p95: z.number().nullable(),
  max: z.number().nullable(),
  samples: z.number().meta({ description: 'Requests in the histogram' }),
});

const figures = {
  requests: z.number(),
  success: z.number().meta({ description: '2xx' }),
  errors: z.number().meta({ description: '4xx + 5xx + no upstream status' }),
  client_errors: z.number(),
  server_errors: z.number(),
  error_rate: z.number().meta({ description: 'errors / requests' }),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  cache_read_tokens: z.number(),
  cache_write_tokens: z.number(),
  total_tokens: z.number().meta({ description: 'prompt + completion' }),
  cost_list: z.number(),
  cost_actual: z.number(),
  latency_ms: latencySchema,
  ttft_ms_avg: z.number().nullable(),
};

export const usageFiguresSchema = z.object(figures).meta({ id: 'UsageFigures' });

export const logStatsSchema = z
  .object({
    group_by: z.string(),
    split_by: z.string().nullable(),
    resolution: z.enum(['hour', 'minute']),
    since: z.string().meta({ format: 'date-time' }),
    until: z.string().meta({ format: 'date-time' }),
    data: z.array(
      z.object({
        ...figures,
        time: z.string().meta({ format: 'date-time' }).optional(),
        model: z.string().nullable().optional(),
        key_id: z.number().nullable().optional(),
        master_id: z.number().nullable().optional(),
        provider_group_id: z.number().nullable().optional(),
      }),
    ),
    totals: usageFiguresSchema,
  })
  .meta({ id: 'LogStats' });

export const dashboardQuerySchema = z
  .object({
    period: z
      .enum(Object.keys(DASHBOARD_PERIODS) as [keyof typeof DASHBOARD_PERIODS, ...Array<keyof typeof DASHBOARD_PERIODS>])
      .default('24h')
      .meta({ description: 'The last N hourly buckets, the current hour included' }),
  })
  .strict();

export const dashboardSummarySchema = z
  .object({
    period: z.string(),
    since: z.string().meta({ format: 'date-time' }),
    until: z.string().meta({ format: 'date-time' }),
    ...figures,
    counts: z.object({
      masters: z.number(),
      active_masters: z.number(),
      keys: z.number(),
      active_keys: z.number(),
      provider_keys: z.number(),
      active_provider_keys: z.number(),
      provider_groups: z.number(),
    }),
    top_models: z.array(z.object({ model: z.string().nullable(), requests: z.number(), total_tokens: z.number(), cost_actual: z.number(), error_rate: z.number() })),
  })
  .meta({ id: 'DashboardSummary' });

export const realtimeSchema = z
  .object({
    scope: z.enum(['global', 'master']),
    master_id: z.number().nullable(),
    second: z.number().meta({ description: 'The current epoch second (not included in the sums)' }),
    at: z.string().meta({ format: 'date-time' }),
    qps: z.number().meta({ description: 'Admitted requests per second over the 10 complete seconds before `second`' }),
    rpm: z.number().meta({ description: 'Admitted requests in the 60 complete seconds before `second`' }),
    tpm: z.number().meta({ description: 'Tokens settled in the same 60 seconds' }),
    limited_last_minute: z.number(),
    rate_limited: z.boolean().meta({ description: 'A request was refused by a limit in the last 10 s (current second included)' }),
    qps_limit: z.number().optional().meta({ description: "The master's global_qps (0 = unlimited)" }),
    series: z.array(z.object({ second: z.number(), requests: z.number(), tokens: z.number(), limited: z.number() })),
  })
  .meta({ id: 'Realtime' });

export const apiKeysSummaryQuerySchema = z
  .object({
    since: instant('Window start (floored to the hour); default unbounded'),
    until: instant('Window end (ceiled to the hour); default unbounded'),
    group_id: id('Only this provider group'),
  })
  .strict();

const counters = { requests: z.number(), success: z.number(), failure: z.number(), tokens: z.number() };

export const apiKeysSummarySchema = z
  .object({
    since: z.string().nullable(),
    until: z.string().nullable(),
    totals: z.object({ lifetime: z.object(counters), window: z.object({ ...counters, cost_actual: z.number() }) }),
    data: z.array(
      z.object({
        api_key_id: z.number(),
        group_id: z.number(),
        group_name: z.string(),
        name: z.string(),
        status: z.string(),
        last_used_at: z.string().nullable(),
        lifetime: z.object(counters).meta({ description: "Flushed gateway counters: every upstream call with this key" }),
        window: z
          .object({ ...counters, cost_actual: z.number(), avg_latency_ms: z.number().nullable(), error_rate: z.number() })
          .meta({ description: 'usage_hourly within [since, until): requests this key served last' }),
      }),
    ),
    groups: z.array(z.object({ group_id: z.number(), name: z.string(), last_used_at: z.string().nullable(), lifetime: z.object(counters) })),
  })
  .meta({ id: 'ApiKeysStatsSummary' });

export const statsFlushSchema = z
  .object({
    applied: z.array(z.string()).meta({ description: 'Batch ids applied by this call' }),
    skipped: z.array(z.string()).meta({ description: 'Batches found already applied (left by a crashed run)' }),
    api_keys: z.number(),
    requests: z.number(),
    tokens: z.number(),
    spent: z
      .object({ keys: z.number(), masters: z.number(), raised: z.number() })
      .meta({ description: 'Live spend counters of child keys and masters read, and quota_used rows raised (docs/budgets.md)' }),
  })
  .meta({ id: 'StatsFlushResult' });
