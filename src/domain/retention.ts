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

/** The UTC calendar day of an instant, as YYYY-MM-DD. */
export function utcDayOf(instant: Date): string {
  if (Number.isNaN(instant.getTime())) throw new RangeError('invalid date');
  return instant.toISOString().slice(0, 10);
}

/**
 * A daily partition's size as the trim planner sees it: `exact` rows come from `count(*)`, the
 * others from the catalog (pg_class.reltuples; pg_stat n_live_tup for a partition never analyzed).
 */
export interface PartitionSize {
  name: string;
  /** The UTC day it holds, YYYY-MM-DD. */
  day: string;
  rows: number;
  exact: boolean;
}

export interface TrimLimits {
  /** EZ_LOG_MAX_RECORDS: the most rows request_logs should hold after the trim. */
  maxRecords: number;
  /**
   * Rows outside the daily partitions (the default partition): they count towards the total but
   * the trim never deletes them (only the retention cutoff does).
   */
  otherRows: number;
  /** Today, UTC (YYYY-MM-DD): partitions of today and later are trimmed row by row, never dropped. */
  today: string;
  /** Most rows the plan may DELETE (whole-partition drops cost no row budget). */
  maxDeleteRows: number;
}

/** One step, oldest partition first: drop a past partition whole, or delete its oldest `rows`. */
export type TrimStep = { kind: 'drop' | 'delete'; name: string; day: string; rows: number };

export type TrimPlan =
  /** Nothing to do: the (possibly estimated) total is within the cap. */
  | { kind: 'within-cap'; total: number; excess: 0 }
  /** Count these partitions exactly (oldest first), then plan again. */
  | { kind: 'count'; total: number; excess: number; names: string[] }
  /**
   * Run `steps` in order. `deferred`: excess rows this run leaves for the next one (the row budget
   * ran out, or only rows outside the daily partitions remain).
   */
  | { kind: 'trim'; total: number; excess: number; steps: TrimStep[]; deferred: number };

/**
 * Plans trimming `request_logs` down to `maxRecords` by removing its oldest rows (pure; the
 * service runs it in a loop). `partitions` must be oldest first.
 *
 * Estimates are only a gate: every partition a step would touch must be `exact`, otherwise the plan
 * asks for exactly those counts first. Newer partitions stay estimated (counting today's partition
 * on every run is the cost this avoids). reltuples lags behind a growing partition, so the total
 * errs low: the cap is reached from below, never by deleting more than the excess.
 */
export function planTrim(partitions: readonly PartitionSize[], limits: TrimLimits): TrimPlan {
  assertWholeDays('maxRecords', limits.maxRecords, 1);
  assertWholeDays('maxDeleteRows', limits.maxDeleteRows, 0);
  for (let i = 1; i < partitions.length; i++) {
    if (partitions[i - 1]!.day >= partitions[i]!.day) throw new RangeError('partitions must be ordered oldest first, one per day');
  }
  const rowsOf = (p: PartitionSize) => Math.max(0, Math.floor(p.rows));
  const total = partitions.reduce((sum, p) => sum + rowsOf(p), 0) + Math.max(0, Math.floor(limits.otherRows));
  const excess = total - limits.maxRecords;
  if (excess <= 0) return { kind: 'within-cap', total, excess: 0 };

  // Which partitions would the trim reach? Those must be counted exactly before anything is removed.
  const uncounted: string[] = [];
  let reached = 0;
  for (const p of partitions) {
    if (reached >= excess) break;
    if (!p.exact) uncounted.push(p.name);
    reached += rowsOf(p);
  }
  if (uncounted.length > 0) return { kind: 'count', total, excess, names: uncounted };

  const steps: TrimStep[] = [];
  let need = excess;
  let budget = limits.maxDeleteRows;
  for (const p of partitions) {
    if (need <= 0) break;
    const rows = rowsOf(p);
    if (rows === 0) continue;
    const take = Math.min(rows, need);
    if (take === rows && p.day < limits.today) {
      steps.push({ kind: 'drop', name: p.name, day: p.day, rows });
      need -= take;
      continue;
    }
    const deletable = Math.min(take, budget);
    if (deletable > 0) steps.push({ kind: 'delete', name: p.name, day: p.day, rows: deletable });
    budget -= deletable;
    need -= deletable;
    // Out of budget part-way through a partition: nothing newer may go before these rows do.
    if (deletable < take) break;
  }
  return { kind: 'trim', total, excess, steps, deferred: need };
}

/** Splits `rows` into DELETE statements of at most `batchSize` rows each. */
export function deleteBatches(rows: number, batchSize: number): number[] {
  assertWholeDays('batchSize', batchSize, 1);
  const batches: number[] = [];
  for (let left = Math.max(0, Math.floor(rows)); left > 0; left -= batchSize) batches.push(Math.min(batchSize, left));
  return batches;
}
