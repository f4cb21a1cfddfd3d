import { runLogWebhookDetector, type DetectorResult } from '../../src/domain/log-webhook.service.js';
import { parsePayload, type JobProcessor, type ProcessorContext } from '../processor-context.js';
import { webhookEnqueuer, workerWebhookQueues } from '../webhooks/publish.js';
import { logWebhookQueue } from './definition.js';

/** Thin: parse, run one detector tick with an enqueue into `webhooks` (jobId from the event id). */
export const processLogWebhook: JobProcessor<DetectorResult> = async (job, ctx: ProcessorContext) => {
  parsePayload(logWebhookQueue, job.data);
  const result = await runLogWebhookDetector({
    knex: ctx.knex,
    now: ctx.now,
    // Past the enqueue timeout (2 s) the tick rolls back.
    enqueue: webhookEnqueuer(workerWebhookQueues(ctx)),
  });
  if (result.fired) ctx.logger.info({ eventId: result.event_id, count: result.count }, 'log webhook threshold crossed; delivery enqueued');
  return result;
};
