/**
 * The fixed-bound latency histogram stored in `usage_hourly.latency_buckets` and
 * `usage_minutely.latency_buckets` (docs/control-plane.md "Stats").
 *
 * Bucket `i` counts latencies in `(LATENCY_BOUNDS_MS[i-1], LATENCY_BOUNDS_MS[i]]` (bucket 0 from 0);
 * the last bucket (index LATENCY_BOUNDS_MS.length) counts everything above the last bound. The
 * bounds are part of the stored data: changing them needs a migration that recomputes the arrays.
 *
 * Percentiles are nearest-rank (`percentile_disc`): the bucket holding the ⌈p·n⌉-th smallest
 * latency is exact, and the value reported is that bucket's upper bound, capped by the largest
 * latency seen (`latency_ms_max`) — so the true percentile `v` and the estimate `e` always share a
 * bucket and `v ≤ e`. The resolution is therefore the width of that bucket: 10 ms up to 100 ms,
 * then 25–50 %; above 300 s only the maximum is known.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 45_000, 60_000,
  90_000, 120_000, 180_000, 300_000,
];

/** How many buckets an array holds: one per bound plus the overflow bucket. */
export const LATENCY_BUCKET_COUNT = LATENCY_BOUNDS_MS.length + 1;

/** The bucket index of one latency (negative or non-finite values count as 0 ms). */
export function latencyBucket(latencyMs: number): number {
  const value = Number.isFinite(latencyMs) ? Math.max(0, latencyMs) : 0;
  const index = LATENCY_BOUNDS_MS.findIndex((bound) => value <= bound);
  return index === -1 ? LATENCY_BOUNDS_MS.length : index;
}

/** The values a bucket covers: `(lower, upper]`; upper is null for the overflow bucket. */
export function bucketRange(index: number): { lower: number; upper: number | null } {
  return { lower: index === 0 ? 0 : LATENCY_BOUNDS_MS[index - 1]!, upper: LATENCY_BOUNDS_MS[index] ?? null };
}

/**
 * Nearest-rank percentile (0 < p ≤ 1) from bucket counts, reported as the bucket's upper bound
 * capped by `maxMs`; null when there is no sample.
 */
export function histogramPercentile(counts: readonly number[], p: number, maxMs: number): number | null {
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) {
      const upper = bucketRange(i).upper;
      return upper === null ? maxMs : Math.min(upper, maxMs);
    }
  }
  return maxMs;
}

/** Element-wise sum (shorter arrays count as zeros). */
export function addHistograms(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) out.push((a[i] ?? 0) + (b[i] ?? 0));
  return out;
}
