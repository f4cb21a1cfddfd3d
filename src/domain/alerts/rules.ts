import { createHash } from 'node:crypto';
import type { AlertThresholds } from './thresholds.js';

/**
 * The detector's rules (docs/alerts.md): pure functions from measured figures and thresholds to
 * findings. No clock, no I/O: the detector service collects the figures, these decide. Every
 * finding has a deterministic fingerprint per (rule, subject), so the same condition seen on the
 * next tick dedupes into the same alert.
 *
 * Severity, for every rule: warning at the threshold, critical at 2× (ratios cap the critical
 * level at 1, i.e. everything failing); quota: warning at `quota_ratio`, critical at 1.
 */

export type FindingSeverity = 'warning' | 'critical';

export interface Finding {
  type: 'rate_limit' | 'error_spike' | 'quota_exceeded' | 'provider_down' | 'traffic_spike';
  severity: FindingSeverity;
  fingerprint: string;
  title: string;
  message: string;
  related_type: string;
  related_id: string;
  /** Always `value`, `threshold`, `critical_at` and `window_seconds` (0 for lifetime quotas). */
  metadata: Record<string, string | number | boolean | null>;
}

/** Per master, the last 60 complete seconds (Redis per-second counters). */
export interface MasterMinute {
  master_id: number;
  requests: number;
  tokens: number;
  limited: number;
}

/** Requests and errors of one subject over a window (usage_minutely). */
export interface ErrorFigures {
  id: string;
  requests: number;
  errors: number;
}

export interface QuotaFigures {
  subject: 'key' | 'master';
  id: number;
  /** µ$ spent (the larger of PostgreSQL's quota_used and the live Redis counter). */
  used: number;
  /** µ$, > 0. */
  limit: number;
}

/** Per master, the last 24 h (usage_hourly). */
export interface MasterDay {
  master_id: number;
  requests: number;
  tokens: number;
}

/** What one detector tick measured. */
export interface DetectorFigures {
  /** Every gateway, the last 60 complete seconds. */
  global: { requests: number; tokens: number };
  masterMinutes: readonly MasterMinute[];
  masterDays: readonly MasterDay[];
  errorsByKey: readonly ErrorFigures[];
  errorsByModel: readonly ErrorFigures[];
  failuresByApiKey: readonly ErrorFigures[];
  failuresByProviderGroup: readonly ErrorFigures[];
  quotas: readonly QuotaFigures[];
}

export const MINUTE_SECONDS = 60;
export const DAY_SECONDS = 86_400;

/** Warning at `threshold`, critical at `criticalAt`; null below. A threshold of 0 is off. */
export function severityAt(value: number, threshold: number, criticalAt = threshold * 2): FindingSeverity | null {
  if (!(threshold > 0) || !Number.isFinite(value)) return null;
  if (value >= criticalAt) return 'critical';
  if (value >= threshold) return 'warning';
  return null;
}

/** Critical level of a ratio threshold: 2×, at most 1. */
export const ratioCritical = (threshold: number) => Math.min(1, threshold * 2);

/** Fingerprints stay ≤ 200 characters (the report API's bound): a long subject is hashed. */
export function fingerprintOf(rule: Finding['type'], ...subject: Array<string | number>): string {
  const raw = [rule, ...subject.map(String)].join(':');
  if (raw.length <= 200) return raw;
  return `${rule}:sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

const pct = (ratio: number) => `${(Math.round(ratio * 1_000) / 10).toString()} %`;
const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

function limits(value: number, threshold: number, criticalAt: number, windowSeconds: number) {
  return { value: round(value), threshold, critical_at: round(criticalAt), window_seconds: windowSeconds };
}

/** Masters refused by a limit at least `rate_limit_per_minute` times in the last minute. */
export function rateLimitRule(masters: readonly MasterMinute[], t: Pick<AlertThresholds, 'rate_limit_per_minute'>): Finding[] {
  const threshold = t.rate_limit_per_minute;
  return masters.flatMap((m) => {
    const severity = severityAt(m.limited, threshold);
    if (!severity) return [];
    return [
      {
        type: 'rate_limit',
        severity,
        fingerprint: fingerprintOf('rate_limit', 'master', m.master_id),
        title: `Master ${m.master_id} is being rate limited`,
        message: `${m.limited} request(s) of master ${m.master_id} were refused by a limit in the last minute (threshold ${threshold}).`,
        related_type: 'master',
        related_id: String(m.master_id),
        metadata: { ...limits(m.limited, threshold, threshold * 2, MINUTE_SECONDS), requests: m.requests },
      },
    ];
  });
}

/** Ratio findings shared by the error-spike and provider-down rules. */
function ratioFindings(
  figures: readonly ErrorFigures[],
  options: { rate: number; minRequests: number; windowMinutes: number },
  make: (f: ErrorFigures, ratio: number) => Pick<Finding, 'type' | 'fingerprint' | 'title' | 'message' | 'related_type' | 'related_id'>,
): Finding[] {
  const criticalAt = ratioCritical(options.rate);
  return figures.flatMap((f) => {
    if (f.requests < options.minRequests || f.requests <= 0) return [];
    const ratio = f.errors / f.requests;
    const severity = severityAt(ratio, options.rate, criticalAt);
    if (!severity) return [];
    const base = make(f, ratio);
    return [
      {
        ...base,
        severity,
        metadata: { ...limits(ratio, options.rate, criticalAt, options.windowMinutes * MINUTE_SECONDS), requests: f.requests, errors: f.errors, min_requests: options.minRequests },
      },
    ];
  });
}

/** Child keys and models whose error rate over the window reaches `error_rate` (with a minimum sample). */
export function errorSpikeRule(
  figures: { byKey: readonly ErrorFigures[]; byModel: readonly ErrorFigures[] },
  t: Pick<AlertThresholds, 'error_rate' | 'error_min_requests' | 'error_window_minutes'>,
): Finding[] {
  const options = { rate: t.error_rate, minRequests: t.error_min_requests, windowMinutes: t.error_window_minutes };
  const window = `${t.error_window_minutes} min`;
  return [
    ...ratioFindings(figures.byKey, options, (f, ratio) => ({
      type: 'error_spike',
      fingerprint: fingerprintOf('error_spike', 'key', f.id),
      title: `Error spike on key ${f.id}`,
      message: `${pct(ratio)} of key ${f.id}'s requests failed in the last ${window} (${f.errors} of ${f.requests}; threshold ${pct(t.error_rate)}).`,
      related_type: 'key',
      related_id: f.id,
    })),
    ...ratioFindings(figures.byModel, options, (f, ratio) => ({
      type: 'error_spike',
      fingerprint: fingerprintOf('error_spike', 'model', f.id),
      title: `Error spike on model ${f.id}`,
      message: `${pct(ratio)} of the requests for model ${f.id} failed in the last ${window} (${f.errors} of ${f.requests}; threshold ${pct(t.error_rate)}).`,
      related_type: 'model',
      related_id: f.id.slice(0, 64),
    })),
  ];
}

/** Upstream keys and provider groups failing at least `provider_failure_rate` of their requests. */
export function providerDownRule(
  figures: { byApiKey: readonly ErrorFigures[]; byProviderGroup: readonly ErrorFigures[] },
  t: Pick<AlertThresholds, 'provider_failure_rate' | 'provider_min_requests' | 'provider_window_minutes'>,
): Finding[] {
  const options = { rate: t.provider_failure_rate, minRequests: t.provider_min_requests, windowMinutes: t.provider_window_minutes };
  const window = `${t.provider_window_minutes} min`;
  return [
    ...ratioFindings(figures.byApiKey, options, (f, ratio) => ({
      type: 'provider_down',
      fingerprint: fingerprintOf('provider_down', 'api_key', f.id),
      title: `Upstream key ${f.id} is failing`,
      message: `${pct(ratio)} of the requests served by upstream key ${f.id} failed in the last ${window} (${f.errors} of ${f.requests}; threshold ${pct(t.provider_failure_rate)}).`,
      related_type: 'api_key',
      related_id: f.id,
    })),
    ...ratioFindings(figures.byProviderGroup, options, (f, ratio) => ({
      type: 'provider_down',
      fingerprint: fingerprintOf('provider_down', 'provider_group', f.id),
      title: `Provider group ${f.id} is failing`,
      message: `${pct(ratio)} of the requests served by provider group ${f.id} failed in the last ${window} (${f.errors} of ${f.requests}; threshold ${pct(t.provider_failure_rate)}).`,
      related_type: 'provider_group',
      related_id: f.id,
    })),
  ];
}

/** Keys and masters at `quota_ratio` of their lifetime quota (critical once exhausted). */
export function quotaRule(quotas: readonly QuotaFigures[], t: Pick<AlertThresholds, 'quota_ratio'>): Finding[] {
  return quotas.flatMap((q) => {
    if (!(q.limit > 0)) return [];
    const ratio = q.used / q.limit;
    const severity = severityAt(ratio, t.quota_ratio, 1);
    if (!severity) return [];
    return [
      {
        type: 'quota_exceeded',
        severity,
        fingerprint: fingerprintOf('quota_exceeded', q.subject, q.id),
        title: severity === 'critical' ? `The quota of ${q.subject} ${q.id} is exhausted` : `${q.subject === 'key' ? 'Key' : 'Master'} ${q.id} used ${pct(ratio)} of its quota`,
        message: `${q.subject === 'key' ? 'Key' : 'Master'} ${q.id} has used ${pct(ratio)} of its lifetime quota ($${(q.used / 1e6).toFixed(2)} of $${(q.limit / 1e6).toFixed(2)}).`,
        related_type: q.subject,
        related_id: String(q.id),
        metadata: { ...limits(ratio, t.quota_ratio, 1, 0), used_micros: q.used, limit_micros: q.limit },
      },
    ];
  });
}

type TrafficMetric = 'qps' | 'rpm' | 'tpm' | 'rpd' | 'tpd';

const METRIC_LABEL: Record<TrafficMetric, string> = {
  qps: 'requests per second',
  rpm: 'requests per minute',
  tpm: 'tokens per minute',
  rpd: 'requests in 24 h',
  tpd: 'tokens in 24 h',
};

function trafficFinding(subject: { kind: 'global' } | { kind: 'master'; id: number }, metric: TrafficMetric, value: number, threshold: number, windowSeconds: number): Finding[] {
  const severity = severityAt(value, threshold);
  if (!severity) return [];
  const who = subject.kind === 'global' ? 'All gateways' : `Master ${subject.id}`;
  const shown = metric === 'qps' ? round(value, 2) : value;
  return [
    {
      type: 'traffic_spike',
      severity,
      fingerprint: subject.kind === 'global' ? fingerprintOf('traffic_spike', 'global', metric) : fingerprintOf('traffic_spike', 'master', subject.id, metric),
      title: `Traffic spike: ${subject.kind === 'global' ? 'global' : `master ${subject.id}`} ${metric.toUpperCase()} ${shown}`,
      message: `${who}: ${shown} ${METRIC_LABEL[metric]} (threshold ${threshold}${severity === 'critical' ? `, critical at ${threshold * 2}` : ''}).`,
      related_type: subject.kind === 'global' ? 'global' : 'master',
      related_id: subject.kind === 'global' ? metric : String(subject.id),
      metadata: { ...limits(value, threshold, threshold * 2, windowSeconds), metric },
    },
  ];
}

/** Global QPS and per-master RPM/TPM (last minute) and RPD/TPD (last 24 h) against their ceilings. */
export function trafficSpikeRule(
  figures: Pick<DetectorFigures, 'global' | 'masterMinutes' | 'masterDays'>,
  t: Pick<AlertThresholds, 'global_qps' | 'master_rpm' | 'master_tpm' | 'master_rpd' | 'master_tpd'>,
): Finding[] {
  return [
    ...trafficFinding({ kind: 'global' }, 'qps', figures.global.requests / MINUTE_SECONDS, t.global_qps, MINUTE_SECONDS),
    ...figures.masterMinutes.flatMap((m) => [
      ...trafficFinding({ kind: 'master', id: m.master_id }, 'rpm', m.requests, t.master_rpm, MINUTE_SECONDS),
      ...trafficFinding({ kind: 'master', id: m.master_id }, 'tpm', m.tokens, t.master_tpm, MINUTE_SECONDS),
    ]),
    ...figures.masterDays.flatMap((m) => [
      ...trafficFinding({ kind: 'master', id: m.master_id }, 'rpd', m.requests, t.master_rpd, DAY_SECONDS),
      ...trafficFinding({ kind: 'master', id: m.master_id }, 'tpd', m.tokens, t.master_tpd, DAY_SECONDS),
    ]),
  ];
}

/** Every rule over one tick's figures, in a stable order. */
export function evaluateRules(figures: DetectorFigures, t: AlertThresholds): Finding[] {
  return [
    ...rateLimitRule(figures.masterMinutes, t),
    ...errorSpikeRule({ byKey: figures.errorsByKey, byModel: figures.errorsByModel }, t),
    ...quotaRule(figures.quotas, t),
    ...providerDownRule({ byApiKey: figures.failuresByApiKey, byProviderGroup: figures.failuresByProviderGroup }, t),
    ...trafficSpikeRule(figures, t),
  ];
}
