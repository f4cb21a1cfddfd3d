import { flushUpstreamStats, purgeStatsTables, type StatsFlushResult } from '../../src/domain/stats-flush.service.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { statsQueue } from './definition.js';

export interface StatsJobResult extends StatsFlushResult {
  purged: { minutes: number; flushes: number };
}

/**
 * Thin: flush the counters (idempotent per batch, so a retry or a concurrent run never counts
 * twice), then purge old minute aggregates and flush ids. The applied batch ids are the job's
 * return value, for inspection in Bull Board.
 */
export const processStats: JobProcessor<StatsJobResult> = async (job, ctx) => {
  parsePayload(statsQueue, job.data);
  const result = await flushUpstreamStats({ knex: ctx.knex, redis: ctx.redis, now: ctx.now });
  const purged = await purgeStatsTables(ctx.knex, ctx.now());
  if (result.applied.length > 0 || result.skipped.length > 0) {
    ctx.logger.debug({ applied: result.applied.length, skipped: result.skipped.length, apiKeys: result.api_keys }, 'upstream key counters flushed');
  }
  return { ...result, purged };
};
