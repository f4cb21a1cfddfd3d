import type { BudgetMetric, BudgetPeriod, Budgets } from '../../lib/budgets.js';

/** A key's or master's spend limits, as the auth record carries them (docs/budgets.md). */
export interface SpendLimits {
  /** Lifetime quota, µ$ of actual cost; -1 = unlimited. */
  quotaLimitMicros: number;
  /** µ$ spent as PostgreSQL knows it: the live counter is first raised to this (never lowered). */
  quotaUsedMicros: number;
  budgets: Budgets;
}

/**
 * Spend to check and reserve with the admission (only for requests of a key or master that has
 * a quota or a budget: the common path sends none and pays nothing for it).
 */
export interface SpendRequest {
  key: SpendLimits;
  master: SpendLimits;
  /** Reserved against the quotas and the periodic cost budgets, µ$ (integer). */
  estimatedMicros: number;
  /** Reserved against the periodic token budgets. */
  estimatedTokens: number;
}

/** What one proxied request asks the limiter for. Limits of 0 mean unlimited. */
export interface AdmitRequest {
  masterId: number;
  /** Requests per second for the master across every gateway; 0 = unlimited. */
  masterQps: number;
  keyId: number;
  /** Requests per 60 s for the child key; 0 = unlimited. */
  keyRpm: number;
  /** Tokens per 60 s for the child key; 0 = unlimited. */
  keyTpm: number;
  /** Tokens charged up front (prompt estimate + expected output); corrected by `settle`. */
  estimatedTokens: number;
  /** The gateway's request id (only for tracing: uniqueness of log entries does not rely on it). */
  requestId: string;
  /** Quotas and budgets to check and reserve in the same script; absent = none apply. */
  spend?: SpendRequest;
}

export type LimitReason = 'master_qps' | 'key_rpm' | 'key_tpm' | 'key_quota' | 'master_quota' | 'key_budget' | 'master_budget';

/** One periodic budget window a request was counted in (for settle). */
export interface PeriodCharge {
  subject: 'key' | 'master';
  period: BudgetPeriod;
  bucket: string;
  /** Window end, ms since the epoch (gateway clock). */
  endMs: number;
}

/** What an admission reserved against quotas and budgets, corrected by settle. */
export interface SpendReservation {
  /** Whose spent counters moved: `k` key, `m` master. */
  subjects: string;
  reservedMicros: number;
  reservedTokens: number;
  periods: PeriodCharge[];
}

/** An admission, to be passed to `settle` once the real usage is known. */
export interface Reservation {
  requestId: string;
  masterId: number;
  keyId: number;
  /** The entry this admission added to the QPS/RPM logs. */
  member: string;
  /** Admission time on the window clock (Redis TIME unless a clock was injected), ms. */
  atMs: number;
  /** TPM bucket charged, or null when the key's TPM was unlimited. */
  tpmBucket: number | null;
  /** Tokens charged up front (the estimate, capped at the TPM limit). */
  chargedTokens: number;
  /** True when Redis was unreachable and the in-process fallback decided. */
  degraded: boolean;
  /** Set when spend was reserved (never while degraded: budgets are skipped then). */
  spend?: SpendReservation;
}

export interface Refusal {
  reason: LimitReason;
  /** Wait before a retry can pass, ms (0 for a lifetime quota: waiting does not help). */
  retryAfterMs: number;
  /** The limit that refused (requests, tokens or µ$ by reason and metric). */
  limit: number;
  /** Quota refusals: the live spend counter, µ$. */
  spentMicros?: number;
  /** Budget refusals: which window and which metric. */
  period?: BudgetPeriod;
  metric?: BudgetMetric;
}

export type AdmitResult = { ok: true; reservation: Reservation } | ({ ok: false } & Refusal);

/** The real spend of a finished request, for settle. */
export interface SpendActual {
  /** Actual cost, µ$ (0 when not billed). */
  costMicros: number;
  /** False when the request is not billed (failed before any output): its request count is refunded too. */
  billed: boolean;
}

/** What the limiter does when Redis fails (docs/limits.md, "Failure behaviour"). */
export type RedisFailureMode =
  /** Enforce the same limits per process until Redis answers again (default). */
  | 'local'
  /** Admit everything. */
  | 'open'
  /** Throw LimiterUnavailableError (the caller answers 503). */
  | 'closed';

export class LimiterUnavailableError extends Error {
  override readonly name = 'LimiterUnavailableError';
  readonly code = 'limiter_unavailable';
  constructor(options?: { cause?: unknown }) {
    super('rate limiter unavailable', options);
  }
}
