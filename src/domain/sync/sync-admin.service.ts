import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { outboxSummary, retryFailed } from '../../db/outbox.repository.js';
import { RedisKeys } from '../../lib/redis-layout.js';
import { write, type WriteContext, type WriteDeps } from '../write-context.js';

/** What admins see and do about the outbox (GET /admin/sync/status, POST snapshot / retry). */

export interface SyncStatus {
  pending: number;
  failed: number;
  oldest_pending_at: string | null;
  last_error: { outbox_id: number; resource: string; error: string; at: string } | null;
  /** Last apply version recorded in PostgreSQL. */
  pg_version: number;
  /** `config:version` in Redis; null when Redis does not answer. */
  redis_version: number | null;
  in_sync: boolean;
}

export async function syncStatus(knex: Knex, redis: Redis): Promise<SyncStatus> {
  const summary = await outboxSummary(knex);
  let redisVersion: number | null = null;
  try {
    redisVersion = Number((await redis.get(RedisKeys.configVersion)) ?? 0);
  } catch {
    redisVersion = null;
  }
  return {
    pending: summary.pending,
    failed: summary.failed,
    oldest_pending_at: summary.oldest_pending_at ? summary.oldest_pending_at.toISOString() : null,
    last_error: summary.last_error
      ? { outbox_id: summary.last_error.id, resource: summary.last_error.resource, error: summary.last_error.error, at: summary.last_error.at.toISOString() }
      : null,
    pg_version: summary.applied_version,
    redis_version: redisVersion,
    in_sync: summary.pending === 0 && summary.failed === 0 && redisVersion === summary.applied_version,
  };
}

/** Queues a full rebuild of Redis from PostgreSQL; returns the outbox row id. */
export async function requestSnapshot(deps: WriteDeps, ctx: WriteContext): Promise<number> {
  return write(deps, ctx, async (unit) => {
    const id = await unit.sync({ resource: 'snapshot', action: 'rebuild' });
    await unit.audit('sync.snapshot', { type: 'sync', id });
    return id;
  });
}

/** Waits (bounded) for an outbox row to be applied; returns its final status and apply version. */
export async function waitForOutboxRow(
  knex: Knex,
  id: number,
  timeoutMs: number,
): Promise<{ status: string; applied_version: number | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = (await knex('sync_outbox').select('status', 'payload').where('id', id).first()) as
      | { status: string; payload: { applied_version?: number } }
      | undefined;
    const status = row?.status ?? 'missing';
    if (status === 'done' || status === 'failed' || status === 'missing' || Date.now() >= deadline) {
      return { status, applied_version: row?.payload.applied_version ?? null };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Puts failed rows back in line and nudges the worker; returns how many. */
export async function retryFailedRows(deps: WriteDeps, ctx: WriteContext): Promise<number> {
  const ids = await write(deps, ctx, async (unit) => {
    const retried = await retryFailed(unit.trx);
    await unit.audit('sync.retry', { type: 'sync', id: null }, { outbox_ids: retried });
    return retried;
  });
  if (ids.length > 0) await deps.nudge(ids).catch((err: unknown) => deps.onNudgeError?.(err));
  return ids.length;
}
