/**
 * The circuit breaker of one upstream key, as pure functions over an explicit state (clock
 * injected as `nowMs`). closed → open when at least `failureRatio` of at least `minRequests`
 * outcomes in the rolling window failed; open → half_open once `untilMs` passes; half_open lets
 * one probe through: success → closed, failure → open again for twice as long (capped).
 */

export interface BreakerConfig {
  /** Rolling window for the failure ratio, ms (default 30 000). */
  windowMs: number;
  /** Granularity of the rolling window, ms (default 1 000). */
  bucketMs: number;
  /** Fewest outcomes in the window before the breaker may open (default 5). */
  minRequests: number;
  /** Failure share that opens the breaker, 0–1 (default 0.5, "≥ 50 %"). */
  failureRatio: number;
  /** First open period, ms (default 30 000); doubles per consecutive reopen. */
  openMs: number;
  /** Longest open period, ms (default 300 000). */
  maxOpenMs: number;
  /** A half-open probe with no result after this long is presumed lost, ms (default 120 000). */
  probeTimeoutMs: number;
}

export const DEFAULT_BREAKER_CONFIG: Readonly<BreakerConfig> = Object.freeze({
  windowMs: 30_000,
  bucketMs: 1_000,
  minRequests: 5,
  failureRatio: 0.5,
  openMs: 30_000,
  maxOpenMs: 300_000,
  probeTimeoutMs: 120_000,
});

/** Outcomes counted in one slice of the rolling window (`start` = slice index). */
export interface WindowBucket {
  readonly start: number;
  readonly ok: number;
  readonly failed: number;
}

export type BreakerState =
  | { readonly kind: 'closed'; readonly buckets: readonly WindowBucket[] }
  /** `reopens`: consecutive failed probes before this open period (0 for the first). */
  | { readonly kind: 'open'; readonly untilMs: number; readonly reopens: number }
  | { readonly kind: 'half_open'; readonly reopens: number; readonly probeSinceMs: number | null };

export type BreakerKind = BreakerState['kind'];

export const CLOSED: BreakerState = Object.freeze({ kind: 'closed', buckets: Object.freeze([]) });

/** Length of the open period after `reopens` consecutive failed probes. */
export function openDurationMs(reopens: number, config: BreakerConfig = DEFAULT_BREAKER_CONFIG): number {
  return Math.min(config.maxOpenMs, config.openMs * 2 ** Math.max(0, reopens));
}

/** The state as of `nowMs`: an open breaker whose period has passed is half-open. */
export function breakerAt(state: BreakerState, nowMs: number): BreakerState {
  if (state.kind === 'open' && nowMs >= state.untilMs) return { kind: 'half_open', reopens: state.reopens, probeSinceMs: null };
  return state;
}

/** Whether a request may be sent now (without claiming the half-open probe). */
export function breakerAllows(state: BreakerState, nowMs: number, config: BreakerConfig = DEFAULT_BREAKER_CONFIG): boolean {
  const s = breakerAt(state, nowMs);
  if (s.kind === 'closed') return true;
  if (s.kind === 'open') return false;
  return s.probeSinceMs === null || nowMs - s.probeSinceMs >= config.probeTimeoutMs;
}

/**
 * A request is about to be sent: in half-open this claims the one probe. `allowed` false means
 * another probe is in flight (or the breaker is open) and the key must be skipped.
 */
export function breakerAttempt(
  state: BreakerState,
  nowMs: number,
  config: BreakerConfig = DEFAULT_BREAKER_CONFIG,
): { state: BreakerState; allowed: boolean } {
  const s = breakerAt(state, nowMs);
  if (!breakerAllows(s, nowMs, config)) return { state: s, allowed: false };
  if (s.kind === 'half_open') return { state: { ...s, probeSinceMs: nowMs }, allowed: true };
  return { state: s, allowed: true };
}

/**
 * The probe's request ended without a verdict (the client left before the upstream answered): the
 * probe is free again at once instead of after probeTimeoutMs.
 */
export function breakerRelease(state: BreakerState, nowMs: number): BreakerState {
  const s = breakerAt(state, nowMs);
  return s.kind === 'half_open' && s.probeSinceMs !== null ? { ...s, probeSinceMs: null } : s;
}

/** Records the outcome of a request sent to this key. */
export function breakerResult(
  state: BreakerState,
  ok: boolean,
  nowMs: number,
  config: BreakerConfig = DEFAULT_BREAKER_CONFIG,
): BreakerState {
  const s = breakerAt(state, nowMs);
  switch (s.kind) {
    case 'open':
      // A request sent before the breaker opened: the decision is made, nothing to learn.
      return s;
    case 'half_open':
      return ok ? CLOSED : { kind: 'open', untilMs: nowMs + openDurationMs(s.reopens + 1, config), reopens: s.reopens + 1 };
    case 'closed': {
      const buckets = addOutcome(s.buckets, ok, nowMs, config);
      const { ok: okCount, failed } = windowTotals(buckets);
      const total = okCount + failed;
      if (total >= config.minRequests && failed >= config.failureRatio * total) {
        return { kind: 'open', untilMs: nowMs + openDurationMs(0, config), reopens: 0 };
      }
      return { kind: 'closed', buckets };
    }
  }
}

/** Adds one outcome to the rolling window, dropping slices that fell out of it. */
export function addOutcome(
  buckets: readonly WindowBucket[],
  ok: boolean,
  nowMs: number,
  config: BreakerConfig = DEFAULT_BREAKER_CONFIG,
): WindowBucket[] {
  const slice = Math.floor(nowMs / config.bucketMs);
  const oldest = slice - Math.ceil(config.windowMs / config.bucketMs) + 1;
  const live = buckets.filter((b) => b.start >= oldest && b.start <= slice);
  const last = live[live.length - 1];
  if (last && last.start === slice) {
    live[live.length - 1] = { start: slice, ok: last.ok + (ok ? 1 : 0), failed: last.failed + (ok ? 0 : 1) };
  } else {
    live.push({ start: slice, ok: ok ? 1 : 0, failed: ok ? 0 : 1 });
  }
  return live;
}

export function windowTotals(buckets: readonly WindowBucket[]): { ok: number; failed: number } {
  let ok = 0;
  let failed = 0;
  for (const b of buckets) {
    ok += b.ok;
    failed += b.failed;
  }
  return { ok, failed };
}

/** What an upstream answer means for the key that served it. */
export type UpstreamVerdict =
  /** Counts as a success for the breaker. */
  | 'success'
  /** Counts as a failure for the breaker (connect error, timeout, 5xx). */
  | 'failure'
  /** 429: cool the key down for Retry-After; not a breaker failure. */
  | 'rate_limited'
  /** 401/403: the credential is refused; ban when auto_ban is on. */
  | 'unauthorized';

/**
 * Classifies one upstream answer: a status code, or `null` when no response arrived (connect
 * error, timeout, reset). Other 4xx are the client's fault and count as successes of the key.
 */
export function classifyUpstream(status: number | null): UpstreamVerdict {
  if (status === null || status >= 500) return 'failure';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'unauthorized';
  return 'success';
}

/**
 * A `Retry-After` header value in ms: delta-seconds or an HTTP date; `fallbackMs` when absent or
 * unreadable. Clamped to [0, maxMs].
 */
export function parseRetryAfterMs(value: string | undefined, nowMs: number, fallbackMs = 30_000, maxMs = 3_600_000): number {
  if (value === undefined || value.trim() === '') return fallbackMs;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) ms = Number(trimmed) * 1_000;
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return fallbackMs;
    ms = at - nowMs;
  }
  return Math.min(maxMs, Math.max(0, Math.ceil(ms)));
}
