import type { Knex } from 'knex';

/**
 * SQL for what the gateway reports (provider-events queue): bans, lifted bans, OAuth refusals, and
 * the quota resets a `quota_exhausted` event is checked against. Key reads go through
 * api-keys.repository (findApiKey … forUpdate).
 *
 * `updated_at` of a key written here becomes the instant the gateway observed the event (never
 * moving backwards): the service compares an event's `at` with `updated_at`, so a later admin
 * write — or a later event — always wins over an older observation, whatever order the worker
 * processes them in.
 */

export interface BanValues {
  status: 'active' | 'auto_disabled';
  ban_reason: string | null;
  ban_until: Date | null;
}

export async function setApiKeyBan(trx: Knex.Transaction, id: number, values: BanValues, observedAt: Date): Promise<void> {
  await trx('api_keys')
    .where('id', id)
    .update({ ...values, updated_at: trx.raw('greatest(updated_at, ?::timestamptz)', [observedAt.toISOString()]) });
}

/** Diagnostics only: leaves updated_at alone (not a status change an admin needs to out-rank). */
export async function setRefreshError(trx: Knex.Transaction, id: number, message: string): Promise<void> {
  await trx('api_keys').where('id', id).update({ refresh_error: message });
}

/** Lifts every auto-ban whose `ban_until` has passed; returns the ids, ascending. */
export async function liftExpiredBans(trx: Knex.Transaction, now: Date): Promise<number[]> {
  const rows = (await trx('api_keys')
    .where('status', 'auto_disabled')
    .whereNotNull('ban_until')
    .andWhere('ban_until', '<=', now)
    .update({ status: 'active', ban_reason: null, ban_until: null, updated_at: trx.fn.now() })
    .returning('id')) as Array<{ id: number }>;
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/** The newest quota reset recorded for a key or master (an outbox row with `reset_spent`). */
export interface QuotaResetState {
  /** The reset has not reached Redis yet (its outbox row is not done). */
  pending: boolean;
  /** When the apply that wrote it ran (the row's processed_at). */
  appliedAt: Date | null;
}

export async function lastQuotaReset(db: Knex | Knex.Transaction, resource: 'key' | 'master', id: number): Promise<QuotaResetState | undefined> {
  const row = (await db('sync_outbox')
    .select('status', 'processed_at')
    .where({ resource, resource_id: String(id) })
    .whereRaw(`(payload->>'reset_spent') = 'true'`)
    .orderBy('id', 'desc')
    .first()) as { status: string; processed_at: Date | null } | undefined;
  if (!row) return undefined;
  return { pending: row.status !== 'done', appliedAt: row.processed_at };
}
