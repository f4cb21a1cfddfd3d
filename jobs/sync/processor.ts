import { applyDueChanges, rebuildIfRedisWasEmptied } from '../../src/domain/sync/sync.service.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { syncQueue } from './definition.js';

export interface SyncJobResult {
  applied: number;
  versions: number[];
  rebuildQueued: boolean;
}

/**
 * Thin: every nudge (write, sweep, snapshot) applies whatever is due. A failure has already been
 * recorded on the outbox rows (attempts, error, backoff) when it reaches BullMQ, which retries.
 */
export const processSync: JobProcessor<SyncJobResult> = async (job, ctx) => {
  const payload = parsePayload(syncQueue, job.data);
  const deps = {
    knex: ctx.knex,
    redis: ctx.redis,
    secretBox: ctx.secretBox,
    logger: ctx.logger,
    batchSize: ctx.config.sync.batchSize,
    maxAttempts: ctx.config.sync.maxRetries,
    now: ctx.now,
  };
  const rebuildQueued = payload.reason === 'sweep' ? await rebuildIfRedisWasEmptied(deps) : false;
  const result = await applyDueChanges(deps);
  if (result.applied > 0) ctx.logger.debug({ applied: result.applied, versions: result.versions, reason: payload.reason }, 'outbox applied to redis');
  return { ...result, rebuildQueued };
};
