import type { Knex } from 'knex';
import type { SyncChange } from '../domain/sync/changes.js';

/** SQL for the transactional outbox (DESIGN §6 "Admin write"). */

export interface OutboxRow {
  id: number;
  resource: string;
  resource_id: string | null;
  action: string;
  payload: Record<string, unknown>;
  status: 'pending' | 'processing' | 'done' | 'failed';
  attempts: number;
  last_error: string | null;
  version: number;
  created_at: Date;
  processed_at: Date | null;
}

/** Inserts one outbox row inside the caller's transaction; returns its id. */
export async function insertOutbox(trx: Knex.Transaction, change: SyncChange): Promise<number> {
  const payload = {
    ...(change.resource === 'key' ? { digest: change.digest } : {}),
    ...((change.resource === 'key' || change.resource === 'master') && change.reset_spent ? { reset_spent: true } : {}),
  };
  const resourceId = 'id' in change ? String(change.id) : null;
  const [row] = await trx('sync_outbox')
    .insert({ resource: change.resource, resource_id: resourceId, action: change.action, payload })
    .returning<Array<{ id: number }>>('id');
  return row!.id;
}

/** Serialises appliers: one transaction-scoped advisory lock for the whole apply (docs/sync.md). */
const SYNC_LOCK_KEY = 0x657a_7379; // "ezsy"

export async function lockApplier(trx: Knex.Transaction, timeoutMs: number): Promise<void> {
  await trx.raw(`set local lock_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
  await trx.raw('select pg_advisory_xact_lock(?)', [SYNC_LOCK_KEY]);
}

/** The next apply version: strictly increasing in apply order, because appliers are serialised. */
export async function nextApplyVersion(trx: Knex.Transaction): Promise<number> {
  const { rows } = await trx.raw<{ rows: Array<{ v: number }> }>(`select nextval('sync_outbox_version_seq') as v`);
  return Number(rows[0]!.v);
}

/** Claims due rows (pending, or failed-but-retryable) with FOR UPDATE SKIP LOCKED, oldest first. */
export async function claimDueRows(trx: Knex.Transaction, limit: number): Promise<OutboxRow[]> {
  return trx('sync_outbox')
    .select('*')
    .where('status', 'pending')
    .andWhere('next_attempt_at', '<=', trx.fn.now())
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .skipLocked();
}

export async function markDone(trx: Knex.Transaction, ids: number[], appliedVersion: number): Promise<void> {
  if (ids.length === 0) return;
  await trx('sync_outbox')
    .whereIn('id', ids)
    .update({ status: 'done', processed_at: trx.fn.now(), last_error: null, payload: trx.raw(`payload || ?::jsonb`, [JSON.stringify({ applied_version: appliedVersion })]) });
  await trx('settings')
    .insert({ key: 'sync.applied_version', value: JSON.stringify(appliedVersion), updated_by: 'sync' })
    .onConflict('key')
    .merge({ value: JSON.stringify(appliedVersion), updated_at: trx.fn.now() });
}

/**
 * Records a failed apply on the rows it covered (outside the rolled-back transaction): attempts+1,
 * the error, the next attempt time; rows past maxAttempts become `failed` and stay visible.
 */
export async function recordFailure(
  knex: Knex,
  ids: number[],
  error: string,
  options: { maxAttempts: number; backoffMs: (attempt: number) => number },
): Promise<{ failed: number[] }> {
  if (ids.length === 0) return { failed: [] };
  const rows = await knex('sync_outbox').select('id', 'attempts').whereIn('id', ids).andWhere('status', 'pending');
  const failed: number[] = [];
  for (const row of rows as Array<{ id: number; attempts: number }>) {
    const attempts = row.attempts + 1;
    const exhausted = attempts >= options.maxAttempts;
    if (exhausted) failed.push(row.id);
    await knex('sync_outbox')
      .where({ id: row.id, status: 'pending' })
      .update({
        attempts,
        last_error: error.slice(0, 2_000),
        status: exhausted ? 'failed' : 'pending',
        next_attempt_at: new Date(Date.now() + options.backoffMs(attempts)),
      });
  }
  return { failed };
}

/** Puts failed rows back in line (POST /admin/sync/retry); returns their ids. */
export async function retryFailed(db: Knex | Knex.Transaction): Promise<number[]> {
  const rows = await db('sync_outbox')
    .where('status', 'failed')
    .update({ status: 'pending', attempts: 0, next_attempt_at: db.fn.now() })
    .returning<Array<{ id: number }>>('id');
  return rows.map((r) => r.id);
}

export interface OutboxSummary {
  pending: number;
  failed: number;
  oldest_pending_at: Date | null;
  last_error: { id: number; resource: string; error: string; at: Date } | null;
  applied_version: number;
}

export async function outboxSummary(knex: Knex): Promise<OutboxSummary> {
  const counts = (await knex('sync_outbox')
    .select(
      knex.raw(`count(*) filter (where status = 'pending')::int as pending`),
      knex.raw(`count(*) filter (where status = 'failed')::int as failed`),
      knex.raw(`min(created_at) filter (where status = 'pending') as oldest_pending_at`),
    )
    .whereIn('status', ['pending', 'failed'])
    .first()) as { pending: number; failed: number; oldest_pending_at: Date | null };
  const lastError = (await knex('sync_outbox')
    .select('id', 'resource', 'last_error', 'next_attempt_at')
    .whereNotNull('last_error')
    .whereIn('status', ['pending', 'failed'])
    .orderBy('id', 'desc')
    .first()) as { id: number; resource: string; last_error: string; next_attempt_at: Date } | undefined;
  const applied = (await knex('settings').select('value').where('key', 'sync.applied_version').first()) as { value: number } | undefined;
  return {
    pending: counts.pending,
    failed: counts.failed,
    oldest_pending_at: counts.oldest_pending_at,
    last_error: lastError ? { id: lastError.id, resource: lastError.resource, error: lastError.last_error, at: lastError.next_attempt_at } : null,
    applied_version: applied ? Number(applied.value) : 0,
  };
}

/** Ids of due rows, for the sweeper's log line. */
export async function countDue(knex: Knex): Promise<number> {
  const row = (await knex('sync_outbox').count<{ count: string }>('* as count').where('status', 'pending').andWhere('next_attempt_at', '<=', knex.fn.now()).first()) ?? { count: '0' };
  return Number(row.count);
}

/** Deletes done rows older than the cutoff (kept for a while for audit of what was synced). */
export async function pruneDone(knex: Knex, olderThan: Date): Promise<number> {
  return knex('sync_outbox').where('status', 'done').andWhere('processed_at', '<', olderThan).delete();
}
