import type { Knex } from 'knex';
import { LATENCY_BUCKET_COUNT } from '../domain/latency-histogram.js';

/**
 * SQL for `usage_hourly` and `usage_minutely` (migrations/20261122000900_create_usage_hourly.ts,
 * 20261122003000_add_usage_stats.ts).
 */

/** One request's contribution to its buckets; the statement sums them per bucket. */
export interface UsageContribution {
  /** ISO start of the UTC hour. */
  hour: string;
  /** ISO start of the UTC minute (usage_minutely). */
  minute: string;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  api_key_id: number | null;
  provider_group_id: number | null;
  status_class: string;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** Decimal text, summed as numeric so cents never drift. */
  cost_list: string;
  cost_actual: string;
  latency_ms: number | null;
  /** Index into LATENCY_BOUNDS_MS (src/domain/latency-histogram.ts); null without a latency. */
  latency_bucket: number | null;
  ttft_ms: number | null;
}

export interface UsageHourlyRow {
  id: number;
  hour: Date;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  api_key_id: number | null;
  provider_group_id: number | null;
  status_class: string;
  request_count: number;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_list: number;
  cost_actual: number;
  latency_ms_sum: number;
  ttft_ms_sum: number;
  ttft_count: number;
  latency_ms_max: number;
  latency_buckets: number[];
  updated_at: Date;
}

const DIMENSIONS = 'master_id, key_id, model, api_key_id, provider_group_id, status_class';

/** `array[count(*) filter (where latency_bucket = 0), …]`: one group's histogram. */
const HISTOGRAM = `array[${Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => `count(*) filter (where latency_bucket = ${i})`).join(', ')}]::bigint[]`;

/**
 * Adds the contributions to their buckets of `table` in one statement: grouped per bucket (GROUP
 * BY treats NULLs as equal, like the NULLS NOT DISTINCT key), then inserted or added to the
 * existing row. Buckets are written in key order, so two workers upserting overlapping buckets
 * lock them in the same order and cannot deadlock. Returns how many buckets were touched.
 */
async function upsertUsage(trx: Knex.Transaction, table: 'usage_hourly' | 'usage_minutely', time: 'hour' | 'minute', contributions: readonly UsageContribution[]): Promise<number> {
  if (contributions.length === 0) return 0;
  const bucket = `${time}, ${DIMENSIONS}`;
  const result = await trx.raw<{ rowCount: number }>(
    `insert into ${table} (${bucket}, request_count, prompt_tokens, completion_tokens, cache_read_tokens,
                               cache_write_tokens, cost_list, cost_actual, latency_ms_sum, ttft_ms_sum, ttft_count,
                               latency_ms_max, latency_buckets)
     select ${bucket}, count(*), sum(prompt_tokens), sum(completion_tokens), sum(cache_read_tokens),
            sum(cache_write_tokens), sum(cost_list), sum(cost_actual), coalesce(sum(latency_ms), 0),
            coalesce(sum(ttft_ms), 0), count(ttft_ms), coalesce(max(latency_ms), 0), ${HISTOGRAM}
       from json_to_recordset(?::json) as r(${time} timestamptz, master_id bigint, key_id bigint, model text,
            api_key_id bigint, provider_group_id bigint, status_class text, prompt_tokens bigint, completion_tokens bigint,
            cache_read_tokens bigint, cache_write_tokens bigint, cost_list numeric, cost_actual numeric,
            latency_ms bigint, latency_bucket int, ttft_ms bigint)
      group by ${bucket}
      order by ${bucket}
     on conflict (${bucket}) do update set
       request_count = ${table}.request_count + excluded.request_count,
       prompt_tokens = ${table}.prompt_tokens + excluded.prompt_tokens,
       completion_tokens = ${table}.completion_tokens + excluded.completion_tokens,
       cache_read_tokens = ${table}.cache_read_tokens + excluded.cache_read_tokens,
       cache_write_tokens = ${table}.cache_write_tokens + excluded.cache_write_tokens,
       cost_list = ${table}.cost_list + excluded.cost_list,
       cost_actual = ${table}.cost_actual + excluded.cost_actual,
       latency_ms_sum = ${table}.latency_ms_sum + excluded.latency_ms_sum,
       ttft_ms_sum = ${table}.ttft_ms_sum + excluded.ttft_ms_sum,
       ttft_count = ${table}.ttft_count + excluded.ttft_count,
       latency_ms_max = greatest(${table}.latency_ms_max, excluded.latency_ms_max),
       latency_buckets = ez_bigint_array_add(${table}.latency_buckets, excluded.latency_buckets),
       updated_at = now()`,
    [JSON.stringify(contributions)],
  );
  return result.rowCount;
}

/** Adds the contributions to usage_hourly; returns how many hourly buckets were touched. */
export async function addUsage(trx: Knex.Transaction, contributions: readonly UsageContribution[]): Promise<number> {
  return upsertUsage(trx, 'usage_hourly', 'hour', contributions);
}

/** Adds the contributions to usage_minutely (the `group_by=minute` source); returns buckets touched. */
export async function addUsageMinutely(trx: Knex.Transaction, contributions: readonly UsageContribution[]): Promise<number> {
  return upsertUsage(trx, 'usage_minutely', 'minute', contributions);
}

/** Buckets in key order (tests, and the dashboards' building block). */
export async function listUsageHourly(db: Knex, filters: { since?: Date; until?: Date; master_id?: number } = {}): Promise<UsageHourlyRow[]> {
  const query = db<UsageHourlyRow>('usage_hourly').select('*', db.raw('latency_buckets::float8[] as latency_buckets'));
  if (filters.since) query.where('hour', '>=', filters.since);
  if (filters.until) query.where('hour', '<', filters.until);
  if (filters.master_id !== undefined) query.where('master_id', filters.master_id);
  return query.orderByRaw('hour, master_id nulls first, key_id nulls first, model nulls first, api_key_id nulls first, provider_group_id nulls first, status_class');
}
