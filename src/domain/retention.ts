/**
 * Retention arithmetic for `request_logs` day partitions (DESIGN §6 "Logs"). Pure: the clock is
 * an argument, every date is UTC.
 */

const DAY_MS = 86_400_000;

/** Midnight UTC of the day containing `instant`. */
export function startOfUtcDay(instant: Date): Date {
  return new Date(Date.UTC(instant.getUTCFullYear(), instant.getUTCMonth(), instant.getUTCDate()));
}

function assertWholeDays(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
}

/**
 * The first instant whose logs are kept: midnight UTC, `retentionDays` days before today.
 * Partitions that end at or before it may be dropped. With retentionDays = 30 on 2024-03-31
 * 15:00 UTC the cutoff is 2024-03-01 00:00 UTC: today plus the 30 previous whole days are kept.
 */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  assertWholeDays('retentionDays', retentionDays, 1);
  return new Date(startOfUtcDay(now).getTime() - retentionDays * DAY_MS);
}

/** Which day partitions must exist: today (UTC) and the next `daysAhead` days. */
export function partitionWindow(now: Date, daysAhead: number): { from: Date; days: number } {
  assertWholeDays('daysAhead', daysAhead, 0);
  return { from: startOfUtcDay(now), days: daysAhead + 1 };
}
