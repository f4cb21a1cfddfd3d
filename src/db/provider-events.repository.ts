import type { Knex } from 'knex';

/**
 * SQL for what the gateway reports about upstream keys (provider-events queue): bans, lifted bans,
 * OAuth refusals. Reads go through api-keys.repository (findApiKey … forUpdate).
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
