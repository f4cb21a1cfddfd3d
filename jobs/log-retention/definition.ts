import { z } from 'zod';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `log-retention` keeps `request_logs` in shape (DESIGN §4, §6 "Logs"): it creates the partitions
 * for today and the next `daysAhead` days, drops whole partitions older than `retentionDays`
 * (default EZ_LOG_RETENTION_DAYS), deletes default-partition rows older than that, and trims the
 * oldest rows beyond `maxRecords` (default EZ_LOG_MAX_RECORDS) in bounded batches. Idempotent:
 * every tick converges on the same state, so a retry or a duplicate run is harmless; work per run
 * is bounded and the rest is left to the next tick.
 */
export const logRetentionPayload = z
  .object({
    /** Days of logs to keep; default: the worker's EZ_LOG_RETENTION_DAYS. */
    retentionDays: z.number().int().min(1).max(3_650).optional(),
    /** Days of partitions to create ahead of today (default 7). */
    daysAhead: z.number().int().min(0).max(90).default(7),
    /** Cap on stored rows; default: the worker's EZ_LOG_MAX_RECORDS. */
    maxRecords: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();

export type LogRetentionPayload = z.input<typeof logRetentionPayload>;

export const logRetentionQueue = defineQueue({
  name: 'log-retention',
  payload: logRetentionPayload,
  defaultJobOptions: {
    ...DEFAULT_JOB_OPTIONS,
    // DDL can wait on locks held by a long report query: back off longer than the default.
    backoff: { type: 'exponential', delay: 10_000 },
  },
  schedulers: [
    // Hourly at :05 UTC. The 00:05 tick drops the partition that just aged out; the others are
    // cheap no-ops that make a fresh deployment (or one whose worker was down at midnight) catch
    // up within the hour instead of waiting a day.
    { id: 'log-retention:hourly', repeat: { pattern: '5 * * * *' }, data: {} },
  ],
});
