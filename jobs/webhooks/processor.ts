import { UnrecoverableError } from 'bullmq';
import { deliverWebhook, WebhookDeliveryError, type DeliveryResult } from '../../src/domain/webhook-delivery.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { webhooksQueue } from './definition.js';

/**
 * Thin: parse, deliver once, map the outcome. A transient failure (5xx, 408, 429, network,
 * timeout) is thrown as is, so BullMQ retries with the queue's backoff (which reads the error's
 * `retryAfterMs`); a permanent one (410 —
 * which also disables the target —, other 4xx, 3xx, a metadata address) becomes an
 * UnrecoverableError and fails the job at once. Every attempt is in `webhook_deliveries`.
 */
export const processWebhook: JobProcessor<DeliveryResult> = async (job, ctx) => {
  const delivery = parsePayload(webhooksQueue, job.data);
  try {
    const result = await deliverWebhook(
      { knex: ctx.knex, secretBox: ctx.secretBox, logger: ctx.logger, now: ctx.now, timeoutMs: ctx.config.webhooks.timeoutMs },
      delivery,
      { attempt: job.attemptsMade + 1, createdAt: new Date(job.timestamp || ctx.now().getTime()) },
    );
    if (result.outcome === 'skipped') ctx.logger.info({ target: delivery.target, eventId: delivery.event.id, reason: result.reason }, 'webhook delivery skipped');
    return result;
  } catch (err) {
    if (err instanceof WebhookDeliveryError && err.permanent) throw new UnrecoverableError(err.message);
    throw err;
  }
};
