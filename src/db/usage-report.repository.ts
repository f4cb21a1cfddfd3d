import type { Knex } from 'knex';

/**
 * SQL of the usage reports (`GET /v1/usage`, `/admin/usage`, docs/usage.md). Reads `usage_hourly`
 * only; money is summed as `numeric` in SQL and returned as exact decimal text.
 */

/** What a report can be grouped by: a column of usage_hourly or a UTC calendar period. */
export type UsageGrouping = 'key' | 'model' | 'master' | 'hour' | 'day' | 'month';

const GROUP_EXPRESSIONS: Record<UsageGrouping, string> = {
  key: 'key_id',
  model: 'model',
  master: 'master_id',
  hour: 'hour',
  day: `date_trunc('day', hour, 'UTC')`,
  month: `date_trunc('month', hour, 'UTC')`,
};

export interface UsageReportFilter {
  /** Inclusive, a whole UTC hour. */
  since: Date;
  /** Exclusive, a whole UTC hour. */
  until: Date;
  master_id?: number;
  key_id?: number;
  model?: string;
}

/** The sums of one group (or of the whole range). */
export interface UsageSumsRow {
  /** The group's value: an id, a model name, a period start (Date) or null. */
  grp: number | string | Date | null;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** USD, exact decimal text without trailing zeros. */
  cost_list_usd: string;
  cost_actual_usd: string;
}

const SUMS = `
  coalesce(sum(request_count), 0)::bigint as requests,
  coalesce(sum(prompt_tokens), 0)::bigint as prompt_tokens,
  coalesce(sum(completion_tokens), 0)::bigint as completion_tokens,
  coalesce(sum(cache_read_tokens), 0)::bigint as cache_read_tokens,
  coalesce(sum(cache_write_tokens), 0)::bigint as cache_write_tokens,
  trim_scale(coalesce(sum(cost_list), 0))::text as cost_list_usd,
  trim_scale(coalesce(sum(cost_actual), 0))::text as cost_actual_usd`;

/**
 * Sums of usage_hourly within the filter, in one row (no grouping; also for an empty range) or
 * one row per group, ordered by the group value (nulls first).
 */
export async function sumUsage(db: Knex, filter: UsageReportFilter, groupBy?: UsageGrouping): Promise<UsageSumsRow[]> {
  const where = ['hour >= ?', 'hour < ?'];
  const bindings: Array<string | number | Date> = [filter.since, filter.until];
  for (const [column, value] of [
    ['master_id', filter.master_id],
    ['key_id', filter.key_id],
    ['model', filter.model],
  ] as const) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    bindings.push(value);
  }
  const group = groupBy ? GROUP_EXPRESSIONS[groupBy] : undefined;
  const { rows } = await db.raw<{ rows: UsageSumsRow[] }>(
    `select ${group ?? 'null'} as grp, ${SUMS}
       from usage_hourly
      where ${where.join(' and ')}
      ${group ? 'group by 1 order by 1 nulls first' : ''}`,
    bindings,
  );
  return rows;
}

/**
 * True when the master (or the key, of that master when both are given) exists, or once existed:
 * usage_hourly keeps the usage of deleted masters and keys, and that usage stays reportable.
 */
export async function usageSubjectKnown(db: Knex, subject: { master_id?: number; key_id?: number }): Promise<boolean> {
  let sql: string;
  let bindings: number[];
  if (subject.key_id !== undefined) {
    const ofMaster = subject.master_id !== undefined ? ' and master_id = ?' : '';
    const m = subject.master_id !== undefined ? [subject.master_id] : [];
    sql = `select exists (select 1 from keys where id = ?${ofMaster})
               or exists (select 1 from usage_hourly where key_id = ?${ofMaster}) as known`;
    bindings = [subject.key_id, ...m, subject.key_id, ...m];
  } else if (subject.master_id !== undefined) {
    sql = `select exists (select 1 from masters where id = ?)
               or exists (select 1 from usage_hourly where master_id = ?) as known`;
    bindings = [subject.master_id, subject.master_id];
  } else {
    return true;
  }
  const { rows } = await db.raw<{ rows: Array<{ known: boolean }> }>(sql, bindings);
  return rows[0]?.known === true;
}

/** The lifetime quota columns of a master or a child key (µ$; quota_limit -1 = unlimited). */
export interface QuotaRow {
  id: number;
  name: string;
  master_id: number | null;
  quota_limit: number;
  quota_used: number;
}

/** Quota rows of the given keys (deleted keys are simply absent). */
export async function keyQuotas(db: Knex, ids: readonly number[]): Promise<QuotaRow[]> {
  if (ids.length === 0) return [];
  return db('keys').select('id', 'name', 'master_id', 'quota_limit', 'quota_used').whereIn('id', ids) as Promise<QuotaRow[]>;
}

/** Quota rows of the given masters (deleted masters are simply absent). */
export async function masterQuotas(db: Knex, ids: readonly number[]): Promise<QuotaRow[]> {
  if (ids.length === 0) return [];
  return db('masters').select('id', 'name', db.raw('null::bigint as master_id'), 'quota_limit', 'quota_used').whereIn('id', ids) as Promise<QuotaRow[]>;
}
