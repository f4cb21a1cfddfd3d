import { applyLogRetention } from '../../src/domain/log-retention.service.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { logRetentionQueue } from './definition.js';

/** What a finished job reports (kept in Redis with the job, so counts rather than table lists). */
export interface LogRetentionJobResult {
  created: number;
  /** Partitions dropped because their day is past the cutoff. */
  dropped: number;
  /** Partitions left for the next run because request_logs' lock was busy. */
  busy: number;
  /** ISO instant: partitions entirely before it are gone. */
  cutoff: string;
  /** Rows older than the cutoff deleted from request_logs_default. */
  defaultDeleted: number;
  /** Trimming to EZ_LOG_MAX_RECORDS. */
  trim: { maxRecords: number; total: number; excess: number; droppedPartitions: number; deletedRows: number; batches: number; deferred: number };
  /** False when the run's budget ran out (or a lock was busy): the next tick continues. */
  complete: boolean;
  durationMs: number;
}

/** Thin: parse, apply retention with the worker's defaults, report. Idempotent by construction. */
export const processLogRetention: JobProcessor<LogRetentionJobResult> = async (job, ctx) => {
  const payload = parsePayload(logRetentionQueue, job.data);
  const maxRecords = payload.maxRecords ?? ctx.config.log.maxRecords;
  const result = await applyLogRetention(ctx.knex, {
    retentionDays: payload.retentionDays ?? ctx.config.log.retentionDays,
    daysAhead: payload.daysAhead,
    maxRecords,
    now: ctx.now(),
  });
  const { trim } = result;
  if (result.dropped.length > 0 || result.defaultDeleted > 0) {
    ctx.logger.info({ dropped: result.dropped, defaultDeleted: result.defaultDeleted, cutoff: result.cutoff }, 'removed request logs past the retention window');
  }
  if (trim.droppedPartitions.length > 0 || trim.deletedRows > 0) {
    ctx.logger.info({ maxRecords, excess: trim.excess, droppedPartitions: trim.droppedPartitions, deletedRows: trim.deletedRows, deferred: trim.deferred }, 'trimmed request logs to EZ_LOG_MAX_RECORDS');
  }
  if (!result.complete) ctx.logger.warn({ busy: result.busy, deferred: trim.deferred }, 'log retention left work for the next run');
  return {
    created: result.created,
    dropped: result.dropped.length,
    busy: result.busy.length,
    cutoff: result.cutoff,
    defaultDeleted: result.defaultDeleted,
    trim: {
      maxRecords,
      total: trim.total,
      excess: trim.excess,
      droppedPartitions: trim.droppedPartitions.length,
      deletedRows: trim.deletedRows,
      batches: trim.batches,
      deferred: trim.deferred,
    },
    complete: result.complete,
    durationMs: result.durationMs,
  };
};
