import type { Knex } from 'knex';
import { keyQuotas, masterQuotas, sumUsage, usageSubjectKnown, type QuotaRow, type UsageGrouping, type UsageSumsRow } from '../db/usage-report.repository.js';
import { NotFoundError, ValidationError } from '../lib/errors.js';

/**
 * Usage reports (docs/usage.md): requests, tokens and cost of a master, a key, a model or
 * everything over a range of whole UTC hours, optionally grouped, with the lifetime quotas that
 * apply. One function serves `GET /v1/usage` and the admin views; the routes only fix the scope.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Without `since`: this long before `until`. */
export const USAGE_DEFAULT_RANGE_MS = 30 * DAY_MS;
/** A report covers at most this much (between the requested `since` and `until`). */
export const USAGE_MAX_RANGE_MS = 400 * DAY_MS;
/** `group_by=hour` covers at most this much (744 groups). */
export const USAGE_MAX_HOURLY_RANGE_MS = 31 * DAY_MS;

export type UsageGroupBy = UsageGrouping;

export interface UsageReportInput {
  since?: Date;
  until?: Date;
  group_by?: UsageGroupBy;
  master_id?: number;
  key_id?: number;
  model?: string;
}

export interface UsageSums {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** prompt + completion (cache tokens are part of prompt). */
  total_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** USD as exact decimal text, e.g. "12.0345". */
  cost_list_usd: string;
  cost_actual_usd: string;
}

/** A lifetime quota in micro-USD of actual cost (`quota_used` as last flushed to PostgreSQL). */
export interface LifetimeQuota {
  unit: 'micro_usd';
  /** -1 = unlimited. */
  limit: number;
  used: number;
  /** max(0, limit − used); null when unlimited. */
  remaining: number | null;
  unlimited: boolean;
}

export interface UsageGroup extends UsageSums {
  key_id?: number | null;
  master_id?: number | null;
  model?: string | null;
  /** Start of the UTC hour, day or month (ISO). */
  period?: string;
  /** Name of the key or master; null once it was deleted. */
  name?: string | null;
  /** The key's or master's lifetime quota; null once it was deleted. */
  quota?: LifetimeQuota | null;
}

export interface UsageReport {
  /** The range actually summed: the requested `since` floored, `until` ceiled to whole UTC hours. */
  since: string;
  until: string;
  group_by: UsageGroupBy | null;
  totals: UsageSums;
  groups?: UsageGroup[];
  /** The lifetime quota of the master the report is about; null for reports across masters. */
  quota: LifetimeQuota | null;
  /** With a key filter: that key's lifetime quota (null once the key was deleted). */
  key_quota?: LifetimeQuota | null;
}

export function quotaOf(row: Pick<QuotaRow, 'quota_limit' | 'quota_used'>): LifetimeQuota {
  const unlimited = row.quota_limit < 0;
  return {
    unit: 'micro_usd',
    limit: unlimited ? -1 : row.quota_limit,
    used: row.quota_used,
    remaining: unlimited ? null : Math.max(0, row.quota_limit - row.quota_used),
    unlimited,
  };
}

function sumsOf(row: UsageSumsRow): UsageSums {
  return {
    requests: row.requests,
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    total_tokens: row.prompt_tokens + row.completion_tokens,
    cache_read_tokens: row.cache_read_tokens,
    cache_write_tokens: row.cache_write_tokens,
    cost_list_usd: row.cost_list_usd,
    cost_actual_usd: row.cost_actual_usd,
  };
}

function rangeError(field: 'since' | 'until', message: string): ValidationError {
  return new ValidationError('Request validation failed', [{ field: `query.${field}`, message }]);
}

/**
 * The hour-aligned range of a report. Pure. Defaults: until now, since 30 days before `until`.
 * Refuses `since` ≥ `until`, a range above 400 days, and hourly groups over more than 31 days.
 */
export function usageRange(input: Pick<UsageReportInput, 'since' | 'until' | 'group_by'>, nowMs: number): { since: Date; until: Date } {
  const untilMs = input.until?.getTime() ?? nowMs;
  const sinceMs = input.since?.getTime() ?? untilMs - USAGE_DEFAULT_RANGE_MS;
  if (sinceMs >= untilMs) throw rangeError('until', '`until` (default: now) must be later than `since`');
  if (untilMs - sinceMs > USAGE_MAX_RANGE_MS) throw rangeError('since', 'A usage report covers at most 400 days: `since` must be at most 400 days before `until`');
  if (input.group_by === 'hour' && untilMs - sinceMs > USAGE_MAX_HOURLY_RANGE_MS) {
    throw rangeError('since', 'Grouping by hour covers at most 31 days: `since` must be at most 31 days before `until`');
  }
  return { since: new Date(Math.floor(sinceMs / HOUR_MS) * HOUR_MS), until: new Date(Math.ceil(untilMs / HOUR_MS) * HOUR_MS) };
}

/** Attaches names and quotas to key or master groups. */
async function describeGroups(db: Knex, groupBy: UsageGroupBy, rows: UsageSumsRow[]): Promise<UsageGroup[]> {
  const ids = rows.map((r) => r.grp).filter((g): g is number => typeof g === 'number');
  const owners = groupBy === 'key' ? await keyQuotas(db, ids) : groupBy === 'master' ? await masterQuotas(db, ids) : [];
  const byId = new Map(owners.map((o) => [o.id, o]));
  return rows.map((row) => {
    const sums = sumsOf(row);
    switch (groupBy) {
      case 'key':
      case 'master': {
        const id = typeof row.grp === 'number' ? row.grp : null;
        const owner = id === null ? undefined : byId.get(id);
        return { [groupBy === 'key' ? 'key_id' : 'master_id']: id, name: owner?.name ?? null, ...sums, quota: owner ? quotaOf(owner) : null };
      }
      case 'model':
        return { model: row.grp === null ? null : String(row.grp), ...sums };
      default:
        return { period: row.grp instanceof Date ? row.grp.toISOString() : new Date(String(row.grp)).toISOString(), ...sums };
    }
  });
}

/**
 * A usage report over usage_hourly. `master_id` / `key_id` scope it (a route fixes them for a
 * master or a single resource); an id that neither exists nor ever had usage — or a key of
 * another master — is a 404, so a master learns nothing about other masters' ids.
 */
export async function usageReport(db: Knex, input: UsageReportInput, now: Date): Promise<UsageReport> {
  const { since, until } = usageRange(input, now.getTime());
  const subject = {
    ...(input.master_id !== undefined ? { master_id: input.master_id } : {}),
    ...(input.key_id !== undefined ? { key_id: input.key_id } : {}),
  };
  if (!(await usageSubjectKnown(db, subject))) {
    throw input.key_id !== undefined ? new NotFoundError('key', input.key_id) : new NotFoundError('master', input.master_id);
  }
  const filter = { since, until, ...subject, ...(input.model !== undefined ? { model: input.model } : {}) };
  const [totals, grouped, key] = await Promise.all([
    sumUsage(db, filter),
    input.group_by ? sumUsage(db, filter, input.group_by) : Promise.resolve(undefined),
    input.key_id !== undefined ? keyQuotas(db, [input.key_id]).then((rows) => rows[0]) : Promise.resolve(undefined),
  ]);
  const masterId = input.master_id ?? key?.master_id ?? undefined;
  const master = masterId !== undefined ? (await masterQuotas(db, [masterId]))[0] : undefined;
  return {
    since: since.toISOString(),
    until: until.toISOString(),
    group_by: input.group_by ?? null,
    totals: sumsOf(totals[0]!),
    ...(grouped && input.group_by ? { groups: await describeGroups(db, input.group_by, grouped) } : {}),
    quota: master ? quotaOf(master) : null,
    ...(input.key_id !== undefined ? { key_quota: key ? quotaOf(key) : null } : {}),
  };
}
