import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { runLogWebhookDetector, type DetectorResult } from '../../src/domain/log-webhook.service.js';
import { queueCatalog, type QueueName } from '../index.js';
import { enqueue, type QueueSet } from '../queues.js';
import { parsePayload, type JobProcessor, type ProcessorContext } from '../processor-context.js';
import { webhookJobId } from '../webhooks/definition.js';
import { logWebhookQueue } from './definition.js';

/** Longest the detector waits for the delivery enqueue (ms); past it the tick rolls back. */
const ENQUEUE_TIMEOUT_MS = 2_000;

/** One producer-side `webhooks` Queue per processor Redis connection (never closed: it shares the connection). */
const webhookQueues = new WeakMap<Redis, QueueSet>();

export function webhooksQueueSet(redis: Redis, prefix: string): QueueSet {
  let set = webhookQueues.get(redis);
  if (!set) {
    const queue = new Queue('webhooks', { connection: redis, prefix, defaultJobOptions: queueCatalog.webhooks.defaultJobOptions });
    queue.on('error', () => {});
    const names: readonly QueueName[] = ['webhooks'];
    set = { prefix, names, get: () => queue, list: () => [queue], close: () => queue.close() };
    webhookQueues.set(redis, set);
  }
  return set;
}

/** Thin: parse, run one detector tick with an enqueue into `webhooks` (jobId from the event id). */
export const processLogWebhook: JobProcessor<DetectorResult> = async (job, ctx: ProcessorContext) => {
  parsePayload(logWebhookQueue, job.data);
  const queues = webhooksQueueSet(ctx.redis, ctx.config.queuePrefix);
  const result = await runLogWebhookDetector({
    knex: ctx.knex,
    now: ctx.now,
    enqueue: async (delivery) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        enqueue(queues, 'webhooks', delivery, { jobId: webhookJobId(delivery) }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`webhooks enqueue timed out after ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    },
  });
  if (result.fired) ctx.logger.info({ eventId: result.event_id, count: result.count }, 'log webhook threshold crossed; delivery enqueued');
  return result;
};
