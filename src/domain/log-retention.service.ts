import type { Knex } from 'knex';
import { dropRequestLogPartitionsBefore, ensureRequestLogPartitions } from '../db/request-log-partitions.repository.js';
import { partitionWindow, retentionCutoff } from './retention.js';

export interface LogRetentionOptions {
  retentionDays: number;
  daysAhead: number;
  now: Date;
}

export interface LogRetentionResult {
  /** Partitions created by this run (0 when they already existed). */
  created: number;
  /** Names of the partitions dropped by this run. */
  dropped: string[];
  /** ISO instant: partitions entirely before it were dropped. */
  cutoff: string;
}

/**
 * One retention pass: make sure today's and the coming days' partitions exist, then drop the
 * partitions past the retention window. Both steps converge, so running it twice is a no-op.
 * Creating comes first: a failure while dropping must never leave today without a partition.
 */
export async function applyLogRetention(knex: Knex, options: LogRetentionOptions): Promise<LogRetentionResult> {
  const created = await ensureRequestLogPartitions(knex, partitionWindow(options.now, options.daysAhead));
  const cutoff = retentionCutoff(options.now, options.retentionDays);
  const dropped = await dropRequestLogPartitionsBefore(knex, cutoff);
  return { created, dropped, cutoff: cutoff.toISOString() };
}
