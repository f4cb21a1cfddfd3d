import { Queue } from 'bullmq';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { WebhookDelivery, WebhookEvent } from '../../src/domain/webhook-delivery.js';
import { publishEvent, type EventPublisherDeps } from '../../src/domain/webhook-events.js';
import { queueCatalog, type QueueName } from '../index.js';
import { enqueue, type QueueSet } from '../queues.js';
import { webhookJobId } from './definition.js';
import { ServiceUnavailableError } from '../../src/lib/errors.js';

/**
 * Producer-side helpers of the `webhooks` queue, for the api and for processors (never a
 * processor itself, so the api may import this module):
 *
 * - api: `publishWebhookEvent({ knex: deps.knex, queues: deps.queues }, webhookEvent('alert.created', {...}))`
 * - worker: `publishWebhookEvent({ knex: ctx.knex, queues: workerWebhookQueues(ctx) }, event)`
 * - a domain service that takes EventPublisherDeps: `eventPublisher(knex, queues)`.
 *
 * Every delivery is enqueued with jobId `webhookJobId(delivery)`, so the same event id published
 * twice to the same webhook is one job (completed jobs are kept 24 h for that).
 */

/** Longest one enqueue may take before it counts as failed (ms): a hung Redis must not hold a caller. */
export const WEBHOOK_ENQUEUE_TIMEOUT_MS = 2_000;

/** The `enqueue` of EventPublisherDeps over a queue set holding `webhooks`. */
export function webhookEnqueuer(queues: QueueSet, timeoutMs = WEBHOOK_ENQUEUE_TIMEOUT_MS): (delivery: WebhookDelivery) => Promise<void> {
  return async (delivery) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      enqueue(queues, 'webhooks', delivery, { jobId: webhookJobId(delivery) }),
      new Promise((_, reject) => {
        // A 503 where an api request waits on it (Redis unreachable), never a 500.
        timer = setTimeout(() => reject(new ServiceUnavailableError(`webhooks enqueue timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };
}

/** EventPublisherDeps over a database (or transaction) and a queue set holding `webhooks`. */
export function eventPublisher(knex: Knex, queues: QueueSet): EventPublisherDeps {
  return { knex, enqueue: webhookEnqueuer(queues) };
}

/** Publishes one event to every subscribed active webhook; returns the event id and how many deliveries were enqueued. */
export async function publishWebhookEvent(deps: { knex: Knex; queues: QueueSet }, event: WebhookEvent): Promise<{ event_id: string; enqueued: number }> {
  const enqueued = await publishEvent(eventPublisher(deps.knex, deps.queues), event);
  return { event_id: event.id, enqueued };
}

/** One producer-side `webhooks` queue per processor Redis connection (shares the connection; never closed separately). */
const workerQueues = new WeakMap<Redis, QueueSet>();

/** The `webhooks` queue set a processor enqueues into, over its fail-fast `ctx.redis`. */
export function workerWebhookQueues(ctx: { redis: Redis; config: { queuePrefix: string } }): QueueSet {
  let set = workerQueues.get(ctx.redis);
  if (!set) {
    const queue = new Queue('webhooks', { connection: ctx.redis, prefix: ctx.config.queuePrefix, defaultJobOptions: queueCatalog.webhooks.defaultJobOptions });
    queue.on('error', () => {});
    const names: readonly QueueName[] = ['webhooks'];
    set = { prefix: ctx.config.queuePrefix, names, get: () => queue, list: () => [queue], close: () => queue.close() };
    workerQueues.set(ctx.redis, set);
  }
  return set;
}
