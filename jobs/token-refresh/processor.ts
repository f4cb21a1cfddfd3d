import { Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  findDueRefreshes,
  refreshAccessToken,
  TOKEN_REFRESH_WRITER,
  type RefreshResult,
  type TokenRefreshDeps,
} from '../../src/domain/oauth/token-refresh.service.js';
import { queueCatalog, type QueueName } from '../index.js';
import { enqueue, type QueueSet } from '../queues.js';
import { parsePayload, type JobProcessor, type ProcessorContext } from '../processor-context.js';
import { webhookEnqueuer, workerWebhookQueues } from '../webhooks/publish.js';
import { expiringJobId, sweepJobOptions, tokenRefreshQueue } from './definition.js';

/**
 * Thin: a `sweep` enqueues one `refresh` per due key (deduplicated by job id); a `refresh` calls
 * the service once and maps its outcome: a retryable failure throws (BullMQ backs off), a dead
 * grant or a configuration problem throws UnrecoverableError after its result was committed.
 */
export const processTokenRefresh: JobProcessor<RefreshResult | { enqueued: number }> = async (job, ctx) => {
  const payload = parsePayload(tokenRefreshQueue, job.data);
  if (payload.type === 'sweep') {
    const due = await findDueRefreshes(ctx.knex, ctx.config.oauth, ctx.now());
    const queues = producerQueues(ctx.redis, ctx.config.queuePrefix);
    for (const { apiKeyId, expiresAt } of due) {
      await enqueue(queues, 'token-refresh', { type: 'refresh', api_key_id: apiKeyId, reason: 'expiring' }, { jobId: expiringJobId(apiKeyId, expiresAt), ...sweepJobOptions });
    }
    if (due.length > 0) ctx.logger.info({ keys: due.map((d) => d.apiKeyId) }, 'token-refresh sweep enqueued refreshes');
    return { enqueued: due.length };
  }

  const deps: TokenRefreshDeps = {
    write: {
      knex: ctx.knex,
      nudge: syncNudge(ctx),
      onNudgeError: (err) => ctx.logger.warn({ err: { message: (err as Error).message } }, 'sync nudge failed after commit; the sweeper will apply the change'),
    },
    box: ctx.secretBox,
    oauth: ctx.config.oauth,
    now: ctx.now,
    events: { enqueue: webhookEnqueuer(workerWebhookQueues(ctx)) },
  };
  // Asked at the gateway's 401, else when the job was created: a refresh committed since answers it.
  const requestedAt = payload.requested_at ? new Date(payload.requested_at) : job.timestamp ? new Date(job.timestamp) : undefined;
  const request = { apiKeyId: payload.api_key_id, reason: payload.reason, ...(requestedAt ? { requestedAt } : {}) };
  const result = await refreshAccessToken(deps, TOKEN_REFRESH_WRITER, request);
  const fields = { apiKeyId: payload.api_key_id, reason: payload.reason, outcome: result.outcome, detail: result.reason };
  switch (result.outcome) {
    case 'refreshed':
      ctx.logger.info({ ...fields, expiresAt: result.key?.access_token_expires_at }, 'OAuth access token refreshed');
      return result;
    case 'skipped':
      ctx.logger.debug(fields, 'OAuth refresh not needed');
      return result;
    case 'retryable_failure':
      throw new Error(`OAuth refresh of api key ${payload.api_key_id} failed: ${result.reason}`);
    case 'disabled':
    case 'rejected':
    case 'config_error':
      ctx.logger.warn(fields, 'OAuth refresh failed permanently');
      throw new UnrecoverableError(`OAuth refresh of api key ${payload.api_key_id}: ${result.outcome} (${result.reason})`);
  }
};

/** Longest a processor waits for an enqueue after its transaction committed (ms). */
const ENQUEUE_TIMEOUT_MS = 1_000;

/** Producer-side `sync` and `token-refresh` Queues per processor Redis connection (they share it; never closed). */
const producers = new WeakMap<Redis, QueueSet>();

function producerQueues(redis: Redis, prefix: string): QueueSet {
  let set = producers.get(redis);
  if (!set) {
    const names: QueueName[] = ['sync', 'token-refresh'];
    const queues = new Map(
      names.map((name) => {
        const queue = new Queue(name, { connection: redis, prefix, defaultJobOptions: queueCatalog[name].defaultJobOptions });
        queue.on('error', () => {});
        return [name, queue] as const;
      }),
    );
    set = {
      prefix,
      names,
      get: (name) => {
        const queue = queues.get(name);
        if (!queue) throw new Error(`queue ${name} is not available to the token-refresh processor`);
        return queue;
      },
      list: () => [...queues.values()],
      close: async () => {
        await Promise.all([...queues.values()].map((q) => q.close()));
      },
    };
    producers.set(redis, set);
  }
  return set;
}

/** Enqueues the `sync` job for the newest outbox row (jobId `outbox-<id>`, as the api does). */
function syncNudge(ctx: ProcessorContext) {
  return async (outboxIds: number[]): Promise<void> => {
    const last = Math.max(...outboxIds);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      enqueue(producerQueues(ctx.redis, ctx.config.queuePrefix), 'sync', { outboxId: last, reason: 'write' }, { jobId: `outbox-${last}` }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`sync nudge timed out after ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  };
}
