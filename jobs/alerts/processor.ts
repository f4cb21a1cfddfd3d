import { runAlertDetector, type DetectorResult } from '../../src/domain/alerts/detector.service.js';
import { webhooksQueueSet } from '../log-webhook/processor.js';
import { parsePayload, type JobProcessor } from '../processor-context.js';
import { enqueue } from '../queues.js';
import { webhookJobId } from '../webhooks/definition.js';
import { alertsQueue } from './definition.js';

/** Longest one delivery enqueue may take (ms); past it the announcement stays pending for the next tick. */
const ENQUEUE_TIMEOUT_MS = 2_000;

/** Thin: parse, run one detector tick with an enqueue into `webhooks` (jobId from the event id). */
export const processAlerts: JobProcessor<DetectorResult> = async (job, ctx) => {
  parsePayload(alertsQueue, job.data);
  const queues = webhooksQueueSet(ctx.redis, ctx.config.queuePrefix);
  const result = await runAlertDetector({
    knex: ctx.knex,
    redis: ctx.redis,
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
  if (result.created.length > 0) ctx.logger.info({ created: result.created, findings: result.findings }, 'alert detector raised new alerts');
  return result;
};
