import { z } from 'zod';

export const syncStatusSchema = z
  .object({
    pending: z.number().int().meta({ description: 'Outbox rows waiting to be applied to Redis' }),
    failed: z.number().int().meta({ description: 'Rows that exhausted their retries (see POST /admin/sync/retry)' }),
    oldest_pending_at: z.iso.datetime().nullable(),
    last_error: z
      .object({ outbox_id: z.number().int(), resource: z.string(), error: z.string(), at: z.iso.datetime() })
      .nullable(),
    pg_version: z.number().int().meta({ description: 'Last apply version recorded in PostgreSQL' }),
    redis_version: z.number().int().nullable().meta({ description: '`config:version` in Redis; null when Redis is down' }),
    in_sync: z.boolean(),
  })
  .meta({ id: 'SyncStatus' });

export const snapshotQuerySchema = z
  .object({
    wait_ms: z.coerce.number().int().min(0).max(60_000).default(15_000).meta({ description: 'How long to wait for the rebuild (ms)' }),
  })
  .strict();

export const snapshotResponseSchema = z
  .object({
    outbox_id: z.number().int(),
    status: z.enum(['pending', 'processing', 'done', 'failed', 'missing']),
    applied_version: z.number().int().nullable(),
  })
  .meta({ id: 'SnapshotResponse' });

export const retryResponseSchema = z.object({ retried: z.number().int() }).meta({ id: 'SyncRetryResponse' });
