import { applyLogRetention } from '../../src/domain/log-retention.service.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { logRetentionQueue } from './definition.js';

/** What a finished job reports (kept in Redis with the job, so counts rather than table lists). */
export interface LogRetentionJobResult {
  created: number;
  dropped: number;
  /** ISO instant: partitions entirely before it are gone. */
  cutoff: string;
}

/** Thin: parse, apply retention with the worker's defaults, report. Idempotent by construction. */
export const processLogRetention: JobProcessor<LogRetentionJobResult> = async (job, ctx) => {
  const payload = parsePayload(logRetentionQueue, job.data);
  const result = await applyLogRetention(ctx.knex, {
    retentionDays: payload.retentionDays ?? ctx.config.log.retentionDays,
    daysAhead: payload.daysAhead,
    now: ctx.now(),
  });
  if (result.dropped.length > 0) ctx.logger.info({ dropped: result.dropped, cutoff: result.cutoff }, 'dropped expired request log partitions');
  return { created: result.created, dropped: result.dropped.length, cutoff: result.cutoff };
};
