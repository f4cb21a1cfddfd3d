import { z } from 'zod';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `stats` flushes the gateways' per upstream key counters (Redis `stats:apikey:<id>`) into
 * `api_keys` and `provider_groups` (DESIGN §8), persists the child keys' and masters' live spend
 * (`usage:<key|master>:<id>:spent`) into quota_used (docs/budgets.md), and purges minute
 * aggregates and flush ids older than 7 days. Exactly once under retries and concurrent runs: see src/domain/stats-flush.service.ts.
 */
export const statsPayload = z
  .object({
    reason: z.enum(['tick', 'manual']).default('tick'),
  })
  .strict();

export type StatsPayload = z.input<typeof statsPayload>;

export const statsQueue = defineQueue({
  name: 'stats',
  payload: statsPayload,
  defaultJobOptions: {
    ...DEFAULT_JOB_OPTIONS,
    // A tick that keeps failing is superseded by the next one a minute later.
    attempts: 3,
    removeOnComplete: { age: 3_600, count: 200 },
  },
  schedulers: [{ id: 'stats:flush', repeat: { every: 60_000 }, data: { reason: 'tick' } }],
});
