import { z } from 'zod';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `alerts`: the alert detector (DESIGN §8, docs/alerts.md). Every minute one tick measures
 * rate limiting, error spikes, quota usage, failing upstreams and traffic against the thresholds
 * of `/admin/alerts/thresholds`, records findings as deduplicated alerts and announces new ones
 * (`alert.created`) to `/admin/webhooks` subscribers.
 */
export const alertsPayload = z
  .object({
    reason: z.enum(['tick', 'manual']).default('tick'),
  })
  .strict();

export type AlertsPayload = z.input<typeof alertsPayload>;

export const alertsQueue = defineQueue({
  name: 'alerts',
  payload: alertsPayload,
  defaultJobOptions: {
    ...DEFAULT_JOB_OPTIONS,
    // A tick that keeps failing is superseded by the next one a minute later.
    attempts: 3,
    removeOnComplete: { age: 3_600, count: 200 },
  },
  schedulers: [{ id: 'alerts:detector', repeat: { every: 60_000 }, data: { reason: 'tick' } }],
});
