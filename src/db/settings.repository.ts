import type { Knex } from 'knex';

/** SQL for `settings`: small control-plane documents keyed by name (jsonb values). */

export interface SettingRow<T = unknown> {
  key: string;
  value: T;
  updated_by: string | null;
  created_at: Date;
  updated_at: Date;
}

/** One setting; `forUpdate` locks the row (read-modify-write inside a transaction). */
export async function getSetting<T>(db: Knex | Knex.Transaction, key: string, options: { forUpdate?: boolean } = {}): Promise<SettingRow<T> | undefined> {
  const query = db<SettingRow<T>>('settings').where('key', key).first();
  if (options.forUpdate) query.forUpdate();
  return query as Promise<SettingRow<T> | undefined>;
}

/** Inserts or replaces a setting's value. */
export async function putSetting<T>(trx: Knex.Transaction, key: string, value: T, updatedBy: string | null): Promise<SettingRow<T>> {
  const json = JSON.stringify(value);
  const [row] = await trx('settings')
    .insert({ key, value: json, updated_by: updatedBy })
    .onConflict('key')
    .merge({ value: json, updated_by: updatedBy, updated_at: trx.fn.now() })
    .returning<Array<SettingRow<T>>>('*');
  return row as SettingRow<T>;
}

/**
 * Takes a transaction-scoped lock on a setting's name, so two read-modify-writes of a setting
 * that has no row yet cannot both start from "missing".
 */
export async function lockSetting(trx: Knex.Transaction, key: string): Promise<void> {
  await trx.raw(`select pg_advisory_xact_lock(hashtext('settings:' || ?))`, [key]);
}
