/**
 * Window math for the limiter, pure and clock-free (every function takes `nowMs`). The Lua script
 * in `scripts.ts` makes the same decisions inside Redis; the in-process fallback
 * (`local-limiter.ts`) calls these functions directly, and the Retry-After a client sees is always
 * computed here from what the script returns. docs/limits.md explains the algorithms.
 */

/** Master QPS: exact sliding log over 1 s. */
export const QPS_WINDOW_MS = 1_000;
/** Key RPM: exact sliding log over 60 s. */
export const RPM_WINDOW_MS = 60_000;
/** Key TPM: tokens are counted in 1 s buckets ... */
export const TPM_BUCKET_MS = 1_000;
/**
 * ... and a bucket stays in the window while it is one of the last 61 (the current one and the 60
 * before it), so tokens admitted at `t` count for between 60 s and 61 s: never less than a minute,
 * which is what makes the window never admit more than the limit in any 60 s span.
 */
export const TPM_LIVE_BUCKETS = 61;

/** Entries of a sliding log with a score ≤ this are outside the window (`now − window`). */
export function logCutoff(nowMs: number, windowMs: number): number {
  return nowMs - windowMs;
}

/**
 * Decides one sliding-log check. `scores` are the admission times in the log, ascending (entries
 * already outside the window are ignored). Returns whether one more fits and, when not, the score
 * of the entry whose expiry makes room: with `n` live entries and limit `L`, the entries at
 * indexes `0 … n−L` must all leave, so the one at `n−L` decides.
 */
export function logDecision(
  scores: readonly number[],
  limit: number,
  nowMs: number,
  windowMs: number,
): { admit: true; live: number } | { admit: false; live: number; blockingScoreMs: number } {
  const cutoff = logCutoff(nowMs, windowMs);
  let first = 0;
  while (first < scores.length && (scores[first] ?? 0) <= cutoff) first++;
  const live = scores.length - first;
  if (limit <= 0 || live < limit) return { admit: true, live };
  return { admit: false, live, blockingScoreMs: scores[first + live - limit] ?? nowMs };
}

/** Milliseconds until a sliding-log entry scored `blockingScoreMs` leaves the window (≥ 1). */
export function logRetryAfterMs(blockingScoreMs: number, windowMs: number, nowMs: number): number {
  return Math.max(1, blockingScoreMs + windowMs - nowMs);
}

/** The TPM bucket a time falls in. */
export function tokenBucketOf(nowMs: number): number {
  return Math.floor(nowMs / TPM_BUCKET_MS);
}

/** The oldest bucket still counted at `nowMs`. */
export function oldestLiveBucket(nowMs: number): number {
  return tokenBucketOf(nowMs) - (TPM_LIVE_BUCKETS - 1);
}

/** When a bucket's tokens stop counting (ms since epoch). */
export function bucketExpiresAtMs(bucket: number): number {
  return (bucket + TPM_LIVE_BUCKETS) * TPM_BUCKET_MS;
}

/**
 * Tokens a request is charged up front: its estimate rounded up, but never more than the whole
 * limit, so a request larger than the budget is admitted into an empty window instead of being
 * refused forever (settle then charges what it really used).
 */
export function chargeFor(estimatedTokens: number, limit: number): number {
  const tokens = Number.isFinite(estimatedTokens) ? Math.max(0, Math.ceil(estimatedTokens)) : 0;
  return limit > 0 ? Math.min(tokens, limit) : tokens;
}

/** A TPM bucket: `[bucket index, tokens]`. */
export type TokenBucket = readonly [bucket: number, tokens: number];

/**
 * Decides one TPM check: admit when the live tokens plus this request's charge fit the limit;
 * otherwise the wait until enough of the oldest buckets expire for the charge to fit.
 */
export function tokenDecision(
  buckets: readonly TokenBucket[],
  charge: number,
  limit: number,
  nowMs: number,
): { admit: true; used: number } | { admit: false; used: number; retryAfterMs: number } {
  const oldest = oldestLiveBucket(nowMs);
  const live = buckets.filter(([bucket]) => bucket >= oldest).sort((a, b) => a[0] - b[0]);
  const used = live.reduce((sum, [, tokens]) => sum + tokens, 0);
  if (limit <= 0 || used + charge <= limit) return { admit: true, used };
  return { admit: false, used, retryAfterMs: tokenRetryAfterMs(live, charge, limit, nowMs) };
}

/**
 * Milliseconds until `charge` more tokens fit: walk the live buckets oldest first until what is
 * left plus the charge is within the limit (≥ 1; at most one window).
 */
export function tokenRetryAfterMs(buckets: readonly TokenBucket[], charge: number, limit: number, nowMs: number): number {
  const live = buckets.filter(([bucket]) => bucket >= oldestLiveBucket(nowMs)).sort((a, b) => a[0] - b[0]);
  let remaining = live.reduce((sum, [, tokens]) => sum + tokens, 0);
  for (const [bucket, tokens] of live) {
    remaining -= tokens;
    if (remaining + charge <= limit) return Math.max(1, bucketExpiresAtMs(bucket) - nowMs);
  }
  // Only reachable when the charge alone exceeds the limit (callers cap it with chargeFor).
  return Math.max(1, bucketExpiresAtMs(tokenBucketOf(nowMs)) - nowMs);
}

/** The `Retry-After` header value (whole seconds, rounded up, at least 1) for a wait in ms. */
export function retryAfterSeconds(retryAfterMs: number): number {
  if (!Number.isFinite(retryAfterMs) || retryAfterMs <= 0) return 1;
  return Math.max(1, Math.ceil(retryAfterMs / 1_000));
}
