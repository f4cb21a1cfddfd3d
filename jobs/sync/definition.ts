import { z } from 'zod';
import type { Config } from '../../src/lib/config.js';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `sync` applies the transactional outbox to Redis (DESIGN §6 "Admin write"). A job is only a
 * nudge: the processor claims every due outbox row, not just the one that woke it, so a lost job
 * costs at most one sweeper interval. jobId = `outbox-<id>` dedupes nudges for the same row.
 */
export const syncPayload = z
  .object({
    /** The outbox row whose commit caused this nudge (informational). */
    outboxId: z.number().int().positive().optional(),
    reason: z.enum(['write', 'sweep', 'snapshot', 'retry']).default('write'),
  })
  .strict();

export type SyncPayload = z.input<typeof syncPayload>;

export const syncQueue = defineQueue({
  name: 'sync',
  payload: syncPayload,
  defaultJobOptions: {
    ...DEFAULT_JOB_OPTIONS,
    attempts: 8,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: { age: 3_600, count: 1_000 },
  },
  // The sweeper: every EZ_SYNC_INTERVAL_MS, apply whatever is due (rows whose nudge was lost,
  // rows waiting out a backoff after Redis was down).
  schedulers: (config: Config) => [{ id: 'sync:sweep', repeat: { every: config.sync.intervalMs }, data: { reason: 'sweep' as const } }],
});
