import { flushSpent, flushUpstreamStats, purgeStatsTables, type SpentFlushResult, type StatsFlushResult } from '../../src/domain/stats-flush.service.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { statsQueue } from './definition.js';

export interface StatsJobResult extends StatsFlushResult {
  /** Child keys' and masters' live spend persisted into quota_used. */
  spent: SpentFlushResult;
  purged: { minutes: number; flushes: number };
}

/**
 * Thin: flush the counters (idempotent per batch, so a retry or a concurrent run never counts
 * twice), persist the live spend into quota_used (greatest(), so idempotent too), then purge old
 * minute aggregates and flush ids. The applied batch ids are the job's return value, for
 * inspection in Bull Board.
 */
export const processStats: JobProcessor<StatsJobResult> = async (job, ctx) => {
  parsePayload(statsQueue, job.data);
  const result = await flushUpstreamStats({ knex: ctx.knex, redis: ctx.redis, now: ctx.now });
  const spent = await flushSpent({ knex: ctx.knex, redis: ctx.redis, now: ctx.now });
  const purged = await purgeStatsTables(ctx.knex, ctx.now());
  if (result.applied.length > 0 || result.skipped.length > 0) {
    ctx.logger.debug({ applied: result.applied.length, skipped: result.skipped.length, apiKeys: result.api_keys }, 'upstream key counters flushed');
  }
  if (spent.raised > 0) ctx.logger.debug({ keys: spent.keys, masters: spent.masters, raised: spent.raised }, 'live spend persisted into quota_used');
  return { ...result, spent, purged };
};
