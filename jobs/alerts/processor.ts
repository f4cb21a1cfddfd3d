import { runAlertDetector, type DetectorResult } from '../../src/domain/alerts/detector.service.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { webhookEnqueuer, workerWebhookQueues } from '../webhooks/publish.js';
import { alertsQueue } from './definition.js';

/** Thin: parse, run one detector tick with an enqueue into `webhooks` (jobId from the event id). */
export const processAlerts: JobProcessor<DetectorResult> = async (job, ctx) => {
  parsePayload(alertsQueue, job.data);
  const result = await runAlertDetector({
    knex: ctx.knex,
    redis: ctx.redis,
    now: ctx.now,
    // Past the enqueue timeout the announcement stays pending for the next tick.
    enqueue: webhookEnqueuer(workerWebhookQueues(ctx)),
  });
  if (result.created.length > 0) ctx.logger.info({ created: result.created, findings: result.findings }, 'alert detector raised new alerts');
  return result;
};
