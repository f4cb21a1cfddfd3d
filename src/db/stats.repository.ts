import type { Knex } from 'knex';

/**
 * SQL of the stats, dashboard and flush paths (docs/control-plane.md "Stats"). Everything reads
 * the aggregates (`usage_hourly`, `usage_minutely`) and the counter columns, never request_logs.
 */

/** Grouping columns of the aggregate tables. */
export const DIMENSION_COLUMNS = {
  model: 'model',
  key: 'key_id',
  master: 'master_id',
  provider: 'provider_group_id',
  api_key: 'api_key_id',
} as const;
export type AggregateDimension = keyof typeof DIMENSION_COLUMNS;

export interface AggregateFilter {
  /** Inclusive, aligned to the source's resolution. */
  since?: Date;
  /** Exclusive, aligned to the source's resolution. */
  until?: Date;
  master_id?: number;
  key_id?: number;
  model?: string;
  provider_group_id?: number;
  api_key_id?: number;
}

export interface AggregateQuery {
  source: 'hour' | 'minute';
  /** Group by the time bucket. */
  byTime: boolean;
  dimension?: AggregateDimension;
  filter: AggregateFilter;
  /** Order by requests (desc) and keep the first N groups; default: time then dimension order. */
  top?: number;
}

/** One group's sums (every figure is a sum over aggregate rows). */
export interface AggregateRow {
  time: Date | null;
  dimension: string | number | null;
  requests: number;
  /** status_class 2xx. */
  success: number;
  /** 3xx. */
  redirects: number;
  /** 4xx. */
  client_errors: number;
  /** 5xx and `error` (no upstream status). */
  server_errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_list: number;
  cost_actual: number;
  latency_ms_sum: number;
  latency_ms_max: number;
  ttft_ms_sum: number;
  ttft_count: number;
  latency_buckets: number[];
}

const SUMS = `
  coalesce(sum(request_count), 0) as requests,
  coalesce(sum(request_count) filter (where status_class = '2xx'), 0) as success,
  coalesce(sum(request_count) filter (where status_class = '3xx'), 0) as redirects,
  coalesce(sum(request_count) filter (where status_class = '4xx'), 0) as client_errors,
  coalesce(sum(request_count) filter (where status_class in ('5xx', 'error')), 0) as server_errors,
  coalesce(sum(prompt_tokens), 0) as prompt_tokens,
  coalesce(sum(completion_tokens), 0) as completion_tokens,
  coalesce(sum(cache_read_tokens), 0) as cache_read_tokens,
  coalesce(sum(cache_write_tokens), 0) as cache_write_tokens,
  coalesce(sum(cost_list), 0) as cost_list,
  coalesce(sum(cost_actual), 0) as cost_actual,
  coalesce(sum(latency_ms_sum), 0) as latency_ms_sum,
  coalesce(max(latency_ms_max), 0) as latency_ms_max,
  coalesce(sum(ttft_ms_sum), 0) as ttft_ms_sum,
  coalesce(sum(ttft_count), 0) as ttft_count,
  coalesce(ez_bigint_array_sum(latency_buckets), '{}')::float8[] as latency_buckets`;

/** Sums of usage_hourly / usage_minutely per time bucket and/or dimension. */
export async function aggregateUsage(db: Knex, query: AggregateQuery): Promise<AggregateRow[]> {
  const table = query.source === 'hour' ? 'usage_hourly' : 'usage_minutely';
  const time = query.source;
  const dimension = query.dimension ? DIMENSION_COLUMNS[query.dimension] : undefined;
  const where: string[] = [];
  const bindings: Array<string | number | Date> = [];
  const f = query.filter;
  const add = (condition: string, value: string | number | Date) => {
    where.push(condition);
    bindings.push(value);
  };
  if (f.since) add(`${time} >= ?`, f.since);
  if (f.until) add(`${time} < ?`, f.until);
  for (const [column, value] of [
    ['master_id', f.master_id],
    ['key_id', f.key_id],
    ['model', f.model],
    ['provider_group_id', f.provider_group_id],
    ['api_key_id', f.api_key_id],
  ] as const) {
    if (value !== undefined) add(`${column} = ?`, value);
  }
  const groups = [...(query.byTime ? [time] : []), ...(dimension ? [dimension] : [])];
  const order = query.top !== undefined
    ? `requests desc${dimension ? `, ${dimension} nulls last` : ''}`
    : groups.map((g) => `${g} nulls first`).join(', ');
  const sql = `select ${query.byTime ? `${time} as time` : 'null::timestamptz as time'},
                      ${dimension ? `${dimension} as dimension` : 'null as dimension'}, ${SUMS}
                 from ${table}
                ${where.length ? `where ${where.join(' and ')}` : ''}
                ${groups.length ? `group by ${groups.join(', ')}` : ''}
                ${order ? `order by ${order}` : ''}
                ${query.top !== undefined ? `limit ${Math.max(1, Math.floor(query.top))}` : ''}`;
  const { rows } = await db.raw<{ rows: AggregateRow[] }>(sql, bindings);
  // Without a GROUP BY the aggregate always returns one row, also for an empty range.
  return groups.length === 0 ? rows : rows.filter((r) => r.requests > 0);
}

export interface EntityCounts {
  masters: number;
  active_masters: number;
  keys: number;
  active_keys: number;
  provider_keys: number;
  active_provider_keys: number;
  provider_groups: number;
}

export async function countEntities(db: Knex): Promise<EntityCounts> {
  const { rows } = await db.raw<{ rows: EntityCounts[] }>(`
    select (select count(*) from masters)::int as masters,
           (select count(*) from masters where status = 'active')::int as active_masters,
           (select count(*) from keys)::int as keys,
           (select count(*) from keys where status = 'active')::int as active_keys,
           (select count(*) from api_keys)::int as provider_keys,
           (select count(*) from api_keys where status = 'active')::int as active_provider_keys,
           (select count(*) from provider_groups)::int as provider_groups`);
  return rows[0]!;
}

export interface ApiKeyStatsRow {
  id: number;
  group_id: number;
  group_name: string;
  name: string;
  status: string;
  request_count: number;
  success_count: number;
  failure_count: number;
  token_count: number;
  last_used_at: Date | null;
  window_requests: number;
  window_success: number;
  window_failure: number;
  window_tokens: number;
  window_cost_actual: number;
  window_latency_ms_sum: number;
}

/** Every upstream key with its lifetime counters and its usage_hourly sums in [since, until). */
export async function apiKeyStats(db: Knex, filter: { since?: Date; until?: Date; group_id?: number }): Promise<ApiKeyStatsRow[]> {
  const where: string[] = [];
  const bindings: Array<Date | number> = [];
  if (filter.since) {
    where.push('hour >= ?');
    bindings.push(filter.since);
  }
  if (filter.until) {
    where.push('hour < ?');
    bindings.push(filter.until);
  }
  const groupBinding: number[] = filter.group_id !== undefined ? [filter.group_id] : [];
  const { rows } = await db.raw<{ rows: ApiKeyStatsRow[] }>(
    `select a.id, a.group_id, g.name as group_name, a.name, a.status,
            a.request_count, a.success_count, a.failure_count, a.token_count, a.last_used_at,
            coalesce(w.requests, 0) as window_requests, coalesce(w.success, 0) as window_success,
            coalesce(w.failure, 0) as window_failure, coalesce(w.tokens, 0) as window_tokens,
            coalesce(w.cost_actual, 0) as window_cost_actual, coalesce(w.latency_ms_sum, 0) as window_latency_ms_sum
       from api_keys a
       join provider_groups g on g.id = a.group_id
       left join (
         select api_key_id,
                sum(request_count) as requests,
                coalesce(sum(request_count) filter (where status_class = '2xx'), 0) as success,
                coalesce(sum(request_count) filter (where status_class <> '2xx'), 0) as failure,
                sum(prompt_tokens + completion_tokens) as tokens,
                sum(cost_actual) as cost_actual,
                sum(latency_ms_sum) as latency_ms_sum
           from usage_hourly
          where api_key_id is not null ${where.length ? `and ${where.join(' and ')}` : ''}
          group by api_key_id
       ) w on w.api_key_id = a.id
      ${groupBinding.length ? 'where a.group_id = ?' : ''}
      order by a.id`,
    [...bindings, ...groupBinding],
  );
  return rows;
}

export interface GroupCountersRow {
  id: number;
  name: string;
  request_count: number;
  success_count: number;
  failure_count: number;
  token_count: number;
  last_used_at: Date | null;
}

export async function groupCounters(db: Knex, groupId?: number): Promise<GroupCountersRow[]> {
  const query = db('provider_groups').select('id', 'name', 'request_count', 'success_count', 'failure_count', 'token_count', 'last_used_at').orderBy('id');
  if (groupId !== undefined) query.where('id', groupId);
  return query as Promise<GroupCountersRow[]>;
}

/** One upstream key's share of a drained batch. */
export interface UpstreamCounterDelta {
  api_key_id: number;
  requests: number;
  success: number;
  failure: number;
  tokens: number;
  /** ISO; null when the batch did not carry it. */
  last_used_at: string | null;
}

/**
 * Applies one drained batch in one transaction, exactly once per batch id: the `stats_flushes`
 * row is the idempotency key (a concurrent applier of the same batch waits on it, then finds it
 * taken). Adds to api_keys and to their provider_groups; never touches `updated_at`
 * (provider-events orders status changes by it). Counters of deleted upstream keys are dropped.
 * Returns false when the batch had been applied before.
 */
export async function applyUpstreamCounters(db: Knex, batchId: string, deltas: readonly UpstreamCounterDelta[]): Promise<boolean> {
  return db.transaction(async (trx) => {
    const requests = deltas.reduce((n, d) => n + d.requests, 0);
    const tokens = deltas.reduce((n, d) => n + d.tokens, 0);
    const inserted = await trx.raw<{ rowCount: number }>(
      `insert into stats_flushes (batch_id, api_keys, requests, tokens) values (?, ?, ?, ?) on conflict (batch_id) do nothing`,
      [batchId, deltas.length, requests, tokens],
    );
    if (inserted.rowCount === 0) return false;
    if (deltas.length === 0) return true;
    const payload = JSON.stringify(deltas);
    const record = `json_to_recordset(?::json) as d(api_key_id bigint, requests bigint, success bigint, failure bigint, tokens bigint, last_used_at timestamptz)`;
    await trx.raw(
      `update api_keys a
          set request_count = a.request_count + d.requests,
              success_count = a.success_count + d.success,
              failure_count = a.failure_count + d.failure,
              token_count = a.token_count + d.tokens,
              last_used_at = greatest(a.last_used_at, d.last_used_at)
         from ${record}
        where a.id = d.api_key_id`,
      [payload],
    );
    await trx.raw(
      `update provider_groups g
          set request_count = g.request_count + s.requests,
              success_count = g.success_count + s.success,
              failure_count = g.failure_count + s.failure,
              token_count = g.token_count + s.tokens,
              last_used_at = greatest(g.last_used_at, s.last_used_at)
         from (select a.group_id, sum(d.requests) as requests, sum(d.success) as success, sum(d.failure) as failure,
                      sum(d.tokens) as tokens, max(d.last_used_at) as last_used_at
                 from ${record} join api_keys a on a.id = d.api_key_id
                group by a.group_id) s
        where g.id = s.group_id`,
      [payload],
    );
    return true;
  });
}

/** Deletes usage_minutely rows and stats_flushes rows older than `before`. */
export async function purgeStatsHistory(db: Knex, before: Date): Promise<{ minutes: number; flushes: number }> {
  const minutes = await db('usage_minutely').where('minute', '<', before).delete();
  const flushes = await db('stats_flushes').where('applied_at', '<', before).delete();
  return { minutes, flushes };
}

/** A live spend counter read from Redis: subject id → µ$. */
export interface SpentValue {
  id: number;
  spent: number;
}

/**
 * quota_used = greatest(quota_used, spent) for a batch of keys or masters, in one statement; never
 * lowers it and never touches status or updated_at. Subjects with a quota reset not yet applied
 * to Redis are left out: their counter still holds the spend from before the reset. Returns how
 * many rows went up.
 */
export async function raiseQuotaUsed(trx: Knex.Transaction, subject: 'key' | 'master', values: readonly SpentValue[]): Promise<number> {
  if (values.length === 0) return 0;
  const table = subject === 'key' ? 'keys' : 'masters';
  const { rowCount } = await trx.raw<{ rowCount: number }>(
    `update ${table} t set quota_used = v.spent
       from (select unnest(?::bigint[]) as id, unnest(?::bigint[]) as spent) v
      where t.id = v.id and v.spent > t.quota_used
        and not exists (select 1 from sync_outbox o
                         where o.resource = ? and o.resource_id = t.id::text
                           and o.status <> 'done' and (o.payload->>'reset_spent') = 'true')`,
    [values.map((v) => v.id), values.map((v) => v.spent), subject],
  );
  return rowCount ?? 0;
}
