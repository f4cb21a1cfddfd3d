import { z } from 'zod';

/**
 * Detector thresholds (`GET|PUT /admin/alerts/thresholds`, docs/alerts.md). One definition per
 * threshold: its bounds, its default and what it means. The `alert_thresholds` row stores only the
 * values an admin set; every other key takes its default here, so a new threshold needs no
 * migration and a stored value that no longer validates falls back to the default.
 */

const ratio = z.number().gt(0).max(1);
const count = z.number().int().min(1).max(1_000_000_000);
/** 0 turns the check off. */
const ceiling = z.number().min(0).max(1e15);
const minutes = z.number().int().min(1).max(60);

export const THRESHOLD_FIELDS = {
  rate_limit_per_minute: {
    schema: count,
    default: 10,
    description: 'Requests of one master refused by a limit in the last minute: warning at this many, critical at 2×',
  },
  error_rate: { schema: ratio, default: 0.1, description: "A key's or a model's error rate (5xx and no-answer) over the window: warning at this ratio, critical at 2× (at most 1)" },
  error_min_requests: { schema: count, default: 20, description: 'Requests a key or model needs in the window before its error rate counts' },
  error_window_minutes: { schema: minutes, default: 5, description: 'Window of the error-rate rule (whole UTC minutes, the current one included)' },
  quota_ratio: { schema: ratio, default: 0.9, description: 'quota_used / quota_limit of a key or master: warning at this ratio, critical at 1 (exhausted)' },
  provider_failure_rate: {
    schema: ratio,
    default: 0.5,
    description: "An upstream key's or provider group's failure ratio over the window: warning at this ratio, critical at 2× (at most 1)",
  },
  provider_min_requests: { schema: count, default: 10, description: 'Requests an upstream key or group needs in the window before its failure ratio counts' },
  provider_window_minutes: { schema: minutes, default: 5, description: 'Window of the provider-down rule (whole UTC minutes, the current one included)' },
  global_qps: { schema: ceiling, default: 100, description: 'Requests per second over every gateway, averaged over the last minute; 0 = off' },
  master_rpm: { schema: ceiling, default: 3_000, description: "One master's requests in the last minute; 0 = off" },
  master_tpm: { schema: ceiling, default: 1_000_000, description: "One master's tokens in the last minute; 0 = off" },
  master_rpd: { schema: ceiling, default: 500_000, description: "One master's requests in the last 24 h; 0 = off" },
  master_tpd: { schema: ceiling, default: 500_000_000, description: "One master's tokens in the last 24 h; 0 = off" },
} as const;

export type ThresholdName = keyof typeof THRESHOLD_FIELDS;
export type AlertThresholds = { [K in ThresholdName]: number };

export const THRESHOLD_NAMES = Object.keys(THRESHOLD_FIELDS) as ThresholdName[];

export const DEFAULT_THRESHOLDS: AlertThresholds = Object.fromEntries(THRESHOLD_NAMES.map((k) => [k, THRESHOLD_FIELDS[k].default])) as AlertThresholds;

/** The effective thresholds: the stored values that still validate, defaults for the rest. */
export function resolveThresholds(stored: unknown): AlertThresholds {
  const result: AlertThresholds = { ...DEFAULT_THRESHOLDS };
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return result;
  for (const name of THRESHOLD_NAMES) {
    const value = (stored as Record<string, unknown>)[name];
    const parsed = THRESHOLD_FIELDS[name].schema.safeParse(value);
    if (parsed.success) result[name] = parsed.data;
  }
  return result;
}

/** Only the stored keys that are known and valid (what a merge starts from). */
export function storedOverrides(stored: unknown): Partial<AlertThresholds> {
  const out: Partial<AlertThresholds> = {};
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return out;
  for (const name of THRESHOLD_NAMES) {
    const parsed = THRESHOLD_FIELDS[name].schema.safeParse((stored as Record<string, unknown>)[name]);
    if (parsed.success) out[name] = parsed.data;
  }
  return out;
}

/** A PUT body: the thresholds to change; `null` resets one to its default; others stay. */
export type ThresholdsPatch = { [K in ThresholdName]?: number | null };

/** Applies a patch to the stored overrides (merge semantics, docs/alerts.md). Pure. */
export function mergeThresholds(current: Partial<AlertThresholds>, patch: ThresholdsPatch): Partial<AlertThresholds> {
  const next: Partial<AlertThresholds> = { ...current };
  for (const name of THRESHOLD_NAMES) {
    if (!(name in patch)) continue;
    const value = patch[name];
    if (value === null || value === undefined) delete next[name];
    else next[name] = value;
  }
  return next;
}
