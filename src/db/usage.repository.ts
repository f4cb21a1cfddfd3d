import type { Knex } from 'knex';

/** SQL for `usage_hourly` (migrations/20261122000900_create_usage_hourly.ts). */

/** One request's contribution to its bucket; the statement sums them per bucket. */
export interface UsageContribution {
  /** ISO start of the UTC hour. */
  hour: string;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  api_key_id: number | null;
  status_class: string;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** Decimal text, summed as numeric so cents never drift. */
  cost_list: string;
  cost_actual: string;
  latency_ms: number | null;
  ttft_ms: number | null;
}

export interface UsageHourlyRow {
  id: number;
  hour: Date;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  api_key_id: number | null;
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
  updated_at: Date;
}

const BUCKET = 'hour, master_id, key_id, model, api_key_id, status_class';

/**
 * Adds the contributions to their hourly buckets in one statement: grouped per bucket (GROUP BY
 * treats NULLs as equal, like the NULLS NOT DISTINCT key), then inserted or added to the existing
 * row. Buckets are written in key order, so two workers upserting overlapping buckets lock them in
 * the same order and cannot deadlock. Returns how many buckets were touched.
 */
export async function addUsage(trx: Knex.Transaction, contributions: readonly UsageContribution[]): Promise<number> {
  if (contributions.length === 0) return 0;
  const result = await trx.raw<{ rowCount: number }>(
    `insert into usage_hourly (${BUCKET}, request_count, prompt_tokens, completion_tokens, cache_read_tokens,
                               cache_write_tokens, cost_list, cost_actual, latency_ms_sum, ttft_ms_sum, ttft_count)
     select ${BUCKET}, count(*), sum(prompt_tokens), sum(completion_tokens), sum(cache_read_tokens),
            sum(cache_write_tokens), sum(cost_list), sum(cost_actual), coalesce(sum(latency_ms), 0),
            coalesce(sum(ttft_ms), 0), count(ttft_ms)
       from json_to_recordset(?::json) as r(hour timestamptz, master_id bigint, key_id bigint, model text,
            api_key_id bigint, status_class text, prompt_tokens bigint, completion_tokens bigint,
            cache_read_tokens bigint, cache_write_tokens bigint, cost_list numeric, cost_actual numeric,
            latency_ms bigint, ttft_ms bigint)
      group by ${BUCKET}
      order by ${BUCKET}
     on conflict (${BUCKET}) do update set
       request_count = usage_hourly.request_count + excluded.request_count,
       prompt_tokens = usage_hourly.prompt_tokens + excluded.prompt_tokens,
       completion_tokens = usage_hourly.completion_tokens + excluded.completion_tokens,
       cache_read_tokens = usage_hourly.cache_read_tokens + excluded.cache_read_tokens,
       cache_write_tokens = usage_hourly.cache_write_tokens + excluded.cache_write_tokens,
       cost_list = usage_hourly.cost_list + excluded.cost_list,
       cost_actual = usage_hourly.cost_actual + excluded.cost_actual,
       latency_ms_sum = usage_hourly.latency_ms_sum + excluded.latency_ms_sum,
       ttft_ms_sum = usage_hourly.ttft_ms_sum + excluded.ttft_ms_sum,
       ttft_count = usage_hourly.ttft_count + excluded.ttft_count,
       updated_at = now()`,
    [JSON.stringify(contributions)],
  );
  return result.rowCount;
}

/** Buckets in key order (tests, and the dashboards' building block). */
export async function listUsageHourly(db: Knex, filters: { since?: Date; until?: Date; master_id?: number } = {}): Promise<UsageHourlyRow[]> {
  const query = db<UsageHourlyRow>('usage_hourly').select('*');
  if (filters.since) query.where('hour', '>=', filters.since);
  if (filters.until) query.where('hour', '<', filters.until);
  if (filters.master_id !== undefined) query.where('master_id', filters.master_id);
  return query.orderByRaw('hour, master_id nulls first, key_id nulls first, model nulls first, api_key_id nulls first, status_class');
}
