import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { applyProviderEvent, liftExpiredAutoBans, type ProviderEventDeps, type ProviderEventResult } from '../../src/domain/provider-events.service.js';
import type { SyncNudge } from '../../src/domain/write-context.js';
import { queueCatalog, type QueueName } from '../index.js';
import { enqueue, type QueueSet } from '../queues.js';
import { parsePayload, type JobProcessor, type ProcessorContext } from '../processor-context.js';
import { webhookEnqueuer, workerWebhookQueues } from '../webhooks/publish.js';
import { providerEventsQueue } from './definition.js';

/**
 * Thin: parse, apply one event through write() (row + audit + outbox row: `routing` for upstream
 * keys, `key` for an exhausted child key), nudge the sync worker after commit. A replayed job is a
 * no-op (the service compares `at` with the key, or finds the spend already recorded). Status
 * changes publish their webhook event (`key.exhausted`, `master.exhausted`, `api_key.disabled`)
 * into `webhooks` inside the transaction: a failed enqueue fails the job, which retries the change.
 */
export const processProviderEvent: JobProcessor<ProviderEventResult | { lifted: number[] }> = async (job, ctx) => {
  const event = parsePayload(providerEventsQueue, job.data);
  const deps: ProviderEventDeps = {
    write: {
      knex: ctx.knex,
      nudge: syncNudge(ctx),
      onNudgeError: (err) => ctx.logger.warn({ err: { message: (err as Error).message } }, 'sync nudge failed after commit; the sweeper will apply the change'),
    },
    now: ctx.now,
    events: { enqueue: webhookEnqueuer(workerWebhookQueues(ctx)) },
  };
  if (event.type === 'ban_expiry_sweep') {
    const lifted = await liftExpiredAutoBans(deps);
    if (lifted.length > 0) ctx.logger.info({ lifted }, 'lifted expired auto-bans');
    return { lifted };
  }
  const result = await applyProviderEvent(deps, event);
  ctx.logger.debug({ event: event.type, ...result }, 'provider event processed');
  return result;
};

/** Longest a processor waits for the sync nudge after its transaction committed (ms). */
const NUDGE_TIMEOUT_MS = 1_000;

/** One producer-side `sync` Queue per processor Redis connection (never closed: it shares the connection). */
const syncQueues = new WeakMap<Redis, QueueSet>();

function syncQueueSet(redis: Redis, prefix: string): QueueSet {
  let set = syncQueues.get(redis);
  if (!set) {
    const queue = new Queue('sync', { connection: redis, prefix, defaultJobOptions: queueCatalog.sync.defaultJobOptions });
    queue.on('error', () => {});
    const names: readonly QueueName[] = ['sync'];
    set = { prefix, names, get: () => queue, list: () => [queue], close: () => queue.close() };
    syncQueues.set(redis, set);
  }
  return set;
}

/** Enqueues the `sync` job for the newest outbox row (jobId `outbox-<id>`, as the api does). */
function syncNudge(ctx: ProcessorContext): SyncNudge {
  return async (outboxIds) => {
    const last = Math.max(...outboxIds);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      enqueue(syncQueueSet(ctx.redis, ctx.config.queuePrefix), 'sync', { outboxId: last, reason: 'write' }, { jobId: `outbox-${last}` }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`sync nudge timed out after ${NUDGE_TIMEOUT_MS} ms`)), NUDGE_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  };
}
