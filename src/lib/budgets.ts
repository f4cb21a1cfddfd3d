import { z } from 'zod';

/**
 * Budgets (issue #6, docs/budgets.md): a lifetime quota (`quota_limit`, µ$ of actual cost, -1 =
 * unlimited) and periodic limits on requests, tokens and cost per minute, hour, day and month, on
 * child keys and on masters. One schema for the API, the sync projection and the gateway.
 */

export const BUDGET_PERIODS = ['minute', 'hour', 'day', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export const BUDGET_METRICS = ['requests', 'tokens', 'cost_usd'] as const;
export type BudgetMetric = (typeof BUDGET_METRICS)[number];

const positiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const periodLimitsSchema = z
  .object({
    requests: positiveInt.optional(),
    tokens: positiveInt.optional(),
    /** USD of actual cost; counted in µ$. */
    cost_usd: z.number().positive().max(1e9).optional(),
  })
  .strict();

export const budgetsSchema = z
  .object({
    minute: periodLimitsSchema.optional(),
    hour: periodLimitsSchema.optional(),
    day: periodLimitsSchema.optional(),
    month: periodLimitsSchema.optional(),
  })
  .strict();

export type PeriodLimits = z.infer<typeof periodLimitsSchema>;
export type Budgets = z.infer<typeof budgetsSchema>;

/** Parses a stored/synced budgets value; anything unreadable counts as no budgets. */
export function parseBudgets(value: unknown): Budgets {
  let raw = value;
  if (typeof value === 'string') {
    if (value === '') return {};
    try {
      raw = JSON.parse(value) as unknown;
    } catch {
      return {};
    }
  }
  const parsed = budgetsSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : {};
}

export function hasBudgets(budgets: Budgets): boolean {
  return BUDGET_PERIODS.some((p) => {
    const l = budgets[p];
    return l !== undefined && (l.requests !== undefined || l.tokens !== undefined || l.cost_usd !== undefined);
  });
}

/**
 * The fixed UTC window a period counter belongs to: `[startMs, endMs)` and its bucket id (used in
 * the Redis key). Calendar windows (a month is a calendar month), not sliding ones: budgets are
 * about spend per period, unlike the RPM/TPM sliding logs.
 */
export function periodWindow(period: BudgetPeriod, nowMs: number): { bucket: string; startMs: number; endMs: number } {
  const d = new Date(nowMs);
  switch (period) {
    case 'minute': {
      const start = Math.floor(nowMs / 60_000) * 60_000;
      return { bucket: String(start / 60_000), startMs: start, endMs: start + 60_000 };
    }
    case 'hour': {
      const start = Math.floor(nowMs / 3_600_000) * 3_600_000;
      return { bucket: String(start / 3_600_000), startMs: start, endMs: start + 3_600_000 };
    }
    case 'day': {
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      return { bucket: new Date(start).toISOString().slice(0, 10).replaceAll('-', ''), startMs: start, endMs: start + 86_400_000 };
    }
    case 'month': {
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      return { bucket: new Date(start).toISOString().slice(0, 7).replace('-', ''), startMs: start, endMs: end };
    }
  }
}

/**
 * Redis keys of the live spend counters (gateway writes; `stats` flushes; sync seeds). All take
 * the limiter's prefix ('' in production).
 */
export const UsageKeys = {
  /** String: lifetime µ$ spent by a child key (settled + in-flight reservations). */
  keySpent: (prefix: string, keyId: number) => `${prefix}usage:key:${keyId}:spent`,
  /** String: lifetime µ$ spent by a master. */
  masterSpent: (prefix: string, masterId: number) => `${prefix}usage:master:${masterId}:spent`,
  /** Hash `requests`, `tokens`, `cost` (µ$) of one key in one period window; TTL past its end. */
  keyPeriod: (prefix: string, keyId: number, period: BudgetPeriod, bucket: string) => `${prefix}usage:key:${keyId}:${period}:${bucket}`,
  masterPeriod: (prefix: string, masterId: number, period: BudgetPeriod, bucket: string) => `${prefix}usage:master:${masterId}:${period}:${bucket}`,
  /** Sets of ids whose `spent` moved since the last `stats` flush. */
  dirtyKeys: (prefix: string) => `${prefix}usage:dirty:keys`,
  dirtyMasters: (prefix: string) => `${prefix}usage:dirty:masters`,
} as const;
