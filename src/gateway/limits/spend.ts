import { BUDGET_METRICS, BUDGET_PERIODS, hasBudgets, UsageKeys, periodWindow, type BudgetMetric, type Budgets } from '../../lib/budgets.js';
import { usdToMicros } from '../../lib/pricing.js';
import type { AdmitRequest, PeriodCharge, Refusal, SpendLimits, SpendRequest } from './limit-types.js';

/**
 * The quota and budget part of the admission (docs/budgets.md), pure: which Redis keys and
 * arguments the admit script gets for a request's spend, and how its refusals read. The window
 * bucket of each period is computed here with the gateway clock (calendar windows, UTC).
 */

/** Period hashes outlive their window by this much, so a long request still settles into its own window. */
export const PERIOD_TTL_MARGIN_MS = 15 * 60_000;

/** A period window the request is checked against, with its limits (-1 = none). */
export interface PeriodCheck extends PeriodCharge {
  limits: Record<BudgetMetric, number>;
}

export interface SpendPlan {
  /** Whose spent counters move: `k` key, `m` master (a subject without quota or budget keeps none). */
  subjects: string;
  keys: string[];
  args: Array<string | number>;
  periods: PeriodCheck[];
}

/** Script argument of a limit: an integer ≥ 0, or -1 for none. */
function limitArg(limit: number | undefined): number {
  return limit !== undefined && Number.isFinite(limit) && limit >= 0 ? Math.floor(limit) : -1;
}

/** A subject's counters are kept only while it has a quota or a budget, so none is ever partial. */
export function tracked(limits: SpendLimits): boolean {
  return (Number.isFinite(limits.quotaLimitMicros) && limits.quotaLimitMicros >= 0) || hasBudgets(limits.budgets);
}

function periodChecks(subject: 'key' | 'master', budgets: Budgets, nowMs: number): PeriodCheck[] {
  const out: PeriodCheck[] = [];
  for (const period of BUDGET_PERIODS) {
    const l = budgets[period];
    if (!l || (l.requests === undefined && l.tokens === undefined && l.cost_usd === undefined)) continue;
    const { bucket, endMs } = periodWindow(period, nowMs);
    out.push({
      subject,
      period,
      bucket,
      endMs,
      limits: { requests: limitArg(l.requests), tokens: limitArg(l.tokens), cost_usd: l.cost_usd === undefined ? -1 : usdToMicros(l.cost_usd) },
    });
  }
  return out;
}

/**
 * KEYS 8… and ARGV 8… of the admit script for a request with spend (see scripts.ts for the
 * layout). `nowMs` is the gateway clock that picks the period buckets.
 */
export function spendPlan(prefix: string, req: AdmitRequest & { spend: SpendRequest }, nowMs: number): SpendPlan {
  const { spend } = req;
  const periods = [...periodChecks('key', spend.key.budgets, nowMs), ...periodChecks('master', spend.master.budgets, nowMs)];
  const keys = [
    UsageKeys.keySpent(prefix, req.keyId),
    UsageKeys.masterSpent(prefix, req.masterId),
    UsageKeys.dirtyKeys(prefix),
    UsageKeys.dirtyMasters(prefix),
    ...periods.map((p) => periodKey(prefix, req, p)),
  ];
  const subjects = `${tracked(spend.key) ? 'k' : ''}${tracked(spend.master) ? 'm' : ''}`;
  const args: Array<string | number> = [
    subjects || '-',
    limitArg(spend.key.quotaLimitMicros),
    floorArg(spend.key.quotaUsedMicros),
    limitArg(spend.master.quotaLimitMicros),
    floorArg(spend.master.quotaUsedMicros),
    floorArg(spend.estimatedMicros),
    floorArg(spend.estimatedTokens),
    req.keyId,
    req.masterId,
    periods.length,
  ];
  for (const p of periods) args.push(p.limits.requests, p.limits.tokens, p.limits.cost_usd, p.endMs + PERIOD_TTL_MARGIN_MS);
  return { subjects, keys, args, periods };
}

export function periodKey(prefix: string, ids: { keyId: number; masterId: number }, p: PeriodCharge): string {
  return p.subject === 'key' ? UsageKeys.keyPeriod(prefix, ids.keyId, p.period, p.bucket) : UsageKeys.masterPeriod(prefix, ids.masterId, p.period, p.bucket);
}

function floorArg(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
}

/**
 * The refusals the script reported for spend: `keySpent`/`masterSpent` are the live counters when
 * the quota refused (else -1); `budgetHits` pairs of (1-based period index, metric 1–3).
 */
export function spendRefusals(req: AdmitRequest & { spend: SpendRequest }, periods: readonly PeriodCheck[], keySpent: number, masterSpent: number, budgetHits: readonly number[], nowMs: number): { quota: Refusal[]; budgets: Refusal[] } {
  const quota: Refusal[] = [];
  if (keySpent >= 0) quota.push({ reason: 'key_quota', retryAfterMs: 0, limit: limitArg(req.spend.key.quotaLimitMicros), spentMicros: keySpent });
  if (masterSpent >= 0) quota.push({ reason: 'master_quota', retryAfterMs: 0, limit: limitArg(req.spend.master.quotaLimitMicros), spentMicros: masterSpent });
  const budgets: Refusal[] = [];
  for (let i = 0; i + 1 < budgetHits.length; i += 2) {
    const p = periods[(budgetHits[i] ?? 0) - 1];
    const metric = BUDGET_METRICS[(budgetHits[i + 1] ?? 0) - 1];
    if (!p || !metric) continue;
    budgets.push({ reason: p.subject === 'key' ? 'key_budget' : 'master_budget', retryAfterMs: Math.max(1, p.endMs - nowMs), limit: p.limits[metric], period: p.period, metric });
  }
  return { quota, budgets };
}
