import type { Knex } from 'knex';
import { listRequestLogPartitions } from '../db/request-log-partitions.repository.js';
import {
  countPartitionRows,
  DEFAULT_LOCK_POLICY,
  DEFAULT_PARTITION,
  deleteOldestRows,
  deleteRowsBefore,
  dropPartitionPolitely,
  ensurePartitionsPolitely,
  partitionStats,
  type LockPolicy,
} from '../db/request-log-retention.repository.js';
import { deleteBatches, partitionWindow, planTrim, retentionCutoff, utcDayOf, type PartitionSize } from './retention.js';

/** Rows per DELETE statement: each is its own short transaction. */
export const DEFAULT_DELETE_BATCH = 5_000;
/** Most rows one run deletes row by row (dropping whole partitions is not counted). */
export const DEFAULT_MAX_DELETE_ROWS = 250_000;
/** Wall-clock budget of one run's deleting (ms); checked between statements. */
export const DEFAULT_MAX_RUN_MS = 120_000;

export interface LogRetentionOptions {
  retentionDays: number;
  daysAhead: number;
  now: Date;
  /** EZ_LOG_MAX_RECORDS: trim the oldest rows beyond it; undefined = no cap. */
  maxRecords?: number;
  /** Rows per DELETE statement (default 5,000). */
  batchSize?: number;
  /** Most rows deleted row by row in this run (default 250,000); the rest waits for the next run. */
  maxDeleteRows?: number;
  /** Time budget of the deleting phases (ms, default 120,000). */
  maxRunMs?: number;
  /** How DDL waits for request_logs' lock (default: 300 ms × 5 attempts). */
  lockPolicy?: LockPolicy;
  /** Monotonic-enough clock for the time budget (tests). */
  clock?: () => number;
}

export interface TrimReport {
  maxRecords: number | null;
  /** Rows request_logs held as the plan saw it (exact for the counted partitions, estimated otherwise). */
  total: number;
  /** Rows above the cap. */
  excess: number;
  /** Partitions counted exactly to plan the trim. */
  counted: string[];
  /** Past day partitions dropped whole because all their rows were in the excess. */
  droppedPartitions: string[];
  /** Rows deleted batch by batch. */
  deletedRows: number;
  /** DELETE statements run. */
  batches: number;
  /** Excess left for the next run (budget, a busy lock, or rows only the default partition holds). */
  deferred: number;
}

export interface LogRetentionResult {
  /** Partitions created by this run (0 when they already existed). */
  created: number;
  /** Names of the partitions dropped because their whole day is past the cutoff. */
  dropped: string[];
  /** Partitions this run could not drop: their lock never came within the lock policy (next run). */
  busy: string[];
  /** ISO instant: partitions entirely before it were dropped, default-partition rows before it deleted. */
  cutoff: string;
  /** Rows older than the cutoff deleted from request_logs_default. */
  defaultDeleted: number;
  trim: TrimReport;
  /** False when a budget ran out or a lock was busy: the next run continues. */
  complete: boolean;
  durationMs: number;
}

/**
 * One retention pass over request_logs (DESIGN §6 "Logs"):
 * 1. create the partitions for today and the next `daysAhead` days (first: a failure later never
 *    leaves today without a partition);
 * 2. drop the daily partitions whose whole day is past the cutoff;
 * 3. delete the rows older than the cutoff from the default partition, which dropping never
 *    touches, in batches;
 * 4. with `maxRecords`, trim the oldest rows beyond it: estimate the total from the catalog, count
 *    exactly only the oldest partitions the trim would reach (src/domain/retention.ts planTrim),
 *    then drop the past partitions that lie entirely inside the excess and delete the oldest rows
 *    of the next one in batches.
 * Deletes run one short statement at a time on old partitions, DDL under a short lock_timeout
 * (src/db/request-log-retention.repository.ts), so inserts into today's partition never wait on
 * it for long. Every step converges, so a rerun or an overlapping run is harmless; the work per
 * run is bounded by `maxDeleteRows` and `maxRunMs`, and what is left is reported and done next run.
 */
export async function applyLogRetention(knex: Knex, options: LogRetentionOptions): Promise<LogRetentionResult> {
  const clock = options.clock ?? Date.now;
  const started = clock();
  const lockPolicy = options.lockPolicy ?? DEFAULT_LOCK_POLICY;
  const batchSize = options.batchSize ?? DEFAULT_DELETE_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const deadline = started + (options.maxRunMs ?? DEFAULT_MAX_RUN_MS);
  let deleteBudget = options.maxDeleteRows ?? DEFAULT_MAX_DELETE_ROWS;
  const outOfTime = () => clock() >= deadline;

  const created = await ensurePartitionsPolitely(knex, partitionWindow(options.now, options.daysAhead), lockPolicy);

  const cutoff = retentionCutoff(options.now, options.retentionDays);
  const cutoffDay = utcDayOf(cutoff);
  const dropped: string[] = [];
  const busy: string[] = [];
  for (const { name } of (await listRequestLogPartitions(knex)).filter((p) => p.day < cutoffDay)) {
    // One partition per transaction: each drop holds the parent's lock only briefly.
    if ((await dropPartitionPolitely(knex, name, lockPolicy)) === 'dropped') dropped.push(name);
    else busy.push(name);
  }

  let defaultDeleted = 0;
  let defaultDone = false;
  while (!defaultDone && deleteBudget > 0 && !outOfTime()) {
    const limit = Math.min(batchSize, deleteBudget);
    const deleted = await deleteRowsBefore(knex, DEFAULT_PARTITION, cutoff, limit);
    defaultDeleted += deleted;
    deleteBudget -= deleted;
    defaultDone = deleted < limit;
  }

  const trim = options.maxRecords === undefined ? emptyTrim() : await trimToCap(knex, options.maxRecords);
  const complete = defaultDone && busy.length === 0 && trim.deferred === 0;
  return { created, dropped, busy, cutoff: cutoff.toISOString(), defaultDeleted, trim, complete, durationMs: clock() - started };

  async function trimToCap(db: Knex, maxRecords: number): Promise<TrimReport> {
    const stats = await partitionStats(db);
    const daily = stats.filter((p): p is typeof p & { day: string } => p.day !== null).sort((a, b) => (a.day < b.day ? -1 : 1));
    // Outside the daily partitions: the default one (supposed to stay near empty) is counted exactly.
    let otherRows = 0;
    for (const p of stats) {
      if (p.day !== null) continue;
      otherRows += p.isDefault ? await countPartitionRows(db, p.name) : p.estimatedRows;
    }
    const exact = new Map<string, number>();
    const report: TrimReport = { maxRecords, total: 0, excess: 0, counted: [], droppedPartitions: [], deletedRows: 0, batches: 0, deferred: 0 };
    const limits = { maxRecords, otherRows, today: utcDayOf(options.now), maxDeleteRows: Math.max(0, deleteBudget) };
    // Each round counts at least one more partition, so this ends within daily.length + 1 rounds.
    for (let round = 0; round <= daily.length; round++) {
      const sizes: PartitionSize[] = daily.map((p) => {
        const rows = exact.get(p.name);
        return rows === undefined ? { name: p.name, day: p.day, rows: p.estimatedRows, exact: false } : { name: p.name, day: p.day, rows, exact: true };
      });
      const plan = planTrim(sizes, limits);
      report.total = plan.total;
      report.excess = plan.excess;
      if (plan.kind === 'within-cap') return report;
      if (plan.kind === 'count') {
        for (const name of plan.names) {
          exact.set(name, await countPartitionRows(db, name));
          report.counted.push(name);
        }
        continue;
      }
      report.deferred = plan.deferred;
      for (const [index, step] of plan.steps.entries()) {
        const unfinished = () => plan.steps.slice(index + 1).reduce((sum, s) => sum + s.rows, 0);
        if (step.kind === 'drop') {
          if ((await dropPartitionPolitely(db, step.name, lockPolicy)) === 'busy') {
            busy.push(step.name);
            report.deferred += step.rows + unfinished();
            return report;
          }
          report.droppedPartitions.push(step.name);
          continue;
        }
        let left = step.rows;
        for (const size of deleteBatches(step.rows, batchSize)) {
          if (outOfTime()) break;
          const deleted = await deleteOldestRows(db, step.name, size);
          report.deletedRows += deleted;
          report.batches += 1;
          left -= deleted;
          if (deleted < size) break; // the partition held fewer rows than counted: nothing older is left in it
        }
        if (left > 0 && outOfTime()) {
          report.deferred += left + unfinished();
          return report;
        }
      }
      return report;
    }
    return report;
  }
}

function emptyTrim(): TrimReport {
  return { maxRecords: null, total: 0, excess: 0, counted: [], droppedPartitions: [], deletedRows: 0, batches: 0, deferred: 0 };
}
