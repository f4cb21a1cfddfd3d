import { z } from 'zod';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `log-webhook` is the log webhook's detector (`GET|PUT /admin/log-webhook`): every 30 s one tick
 * counts the offending request logs of the configured window and, when the threshold is crossed
 * outside the cooldown, records the firing and enqueues one `webhooks` delivery in the same
 * transaction (src/domain/log-webhook.service.ts). A failed tick is retried once after 5 s, then
 * left to the next tick; a retry is harmless (the lock and the recorded firing stop a double fire).
 */
export const logWebhookPayload = z
  .object({
    reason: z.enum(['tick', 'manual']).default('tick'),
  })
  .strict();

export type LogWebhookPayload = z.input<typeof logWebhookPayload>;

/** How often the detector runs (ms). */
export const LOG_WEBHOOK_TICK_MS = 30_000;

export const logWebhookQueue = defineQueue({
  name: 'log-webhook',
  payload: logWebhookPayload,
  defaultJobOptions: {
    ...DEFAULT_JOB_OPTIONS,
    attempts: 2,
    backoff: { type: 'fixed', delay: 5_000 },
    // Ticks are frequent and small: keep a short history.
    removeOnComplete: { age: 3_600, count: 100 },
    removeOnFail: { age: 24 * 3_600, count: 500 },
  },
  schedulers: [{ id: 'log-webhook:detect', repeat: { every: LOG_WEBHOOK_TICK_MS }, data: { reason: 'tick' as const } }],
});
