import type { Knex } from 'knex';
import type { Budgets } from '../lib/budgets.js';
import type { OffsetPage } from './masters.repository.js';

/** SQL for `keys` (child keys issued under a master). */

export type KeyStatus = 'active' | 'disabled' | 'expired' | 'exhausted';
export type KeyIssuer = 'master' | 'admin';

/** Statuses that occupy one of the master's max_child_keys slots. */
export const SLOT_KEY_STATUSES: readonly KeyStatus[] = ['active', 'disabled'];

export interface KeyRow {
  id: number;
  master_id: number;
  key_digest: string;
  key_prefix: string;
  key_last4: string;
  name: string;
  issued_by: KeyIssuer;
  issuer_id: string | null;
  issued_at_epoch: number;
  status: KeyStatus;
  scopes: string[];
  /** Empty = the master's namespaces. */
  namespaces: string[];
  /** NULL = the master's default namespace. */
  default_namespace: string | null;
  /** NULL = the master's routing group. */
  group: string | null;
  model_limits_enabled: boolean;
  model_limits: string[];
  /** CIDR strings as PostgreSQL prints them (`10.0.0.0/8`, `10.0.0.1/32`). */
  allow_ips: string[];
  expires_at: Date | null;
  /** Lifetime quota, µ$ of actual cost; -1 = unlimited. */
  quota_limit: number;
  /** µ$ spent as far as PostgreSQL knows (raised by the `stats` flush and quota events, never lowered but by a reset). */
  quota_used: number;
  rpm_limit: number;
  tpm_limit: number;
  /** Periodic budgets (src/lib/budgets.ts); `{}` = none. */
  budgets: Budgets;
  last_used_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** budgets defaults in the table (`{}`). */
export type NewKeyRow = Omit<KeyRow, 'id' | 'quota_used' | 'budgets' | 'last_used_at' | 'created_at' | 'updated_at'> & Partial<Pick<KeyRow, 'budgets'>>;

export type KeyPatch = Partial<
  Pick<
    KeyRow,
    | 'name'
    | 'status'
    | 'scopes'
    | 'namespaces'
    | 'default_namespace'
    | 'group'
    | 'model_limits_enabled'
    | 'model_limits'
    | 'allow_ips'
    | 'expires_at'
    | 'quota_limit'
    | 'rpm_limit'
    | 'tpm_limit'
    | 'budgets'
  >
>;

export interface KeyFilters {
  masterId: number;
  status?: KeyStatus;
}

export async function insertKey(trx: Knex.Transaction, row: NewKeyRow): Promise<KeyRow> {
  const [inserted] = await trx('keys').insert(row).returning<KeyRow[]>('*');
  return inserted!;
}

export async function findKeyById(db: Knex, id: number): Promise<KeyRow | undefined> {
  return db<KeyRow>('keys').where('id', id).first();
}

/** Reads the key and holds its row lock until the transaction ends. */
export async function lockKey(trx: Knex.Transaction, id: number): Promise<KeyRow | undefined> {
  return trx<KeyRow>('keys').where('id', id).forUpdate().first();
}

/** Newest first; `total` counts every match regardless of the page. */
export async function listKeys(db: Knex, filters: KeyFilters, page: OffsetPage): Promise<{ rows: KeyRow[]; total: number }> {
  const filtered = () => {
    const query = db<KeyRow>('keys').where('master_id', filters.masterId);
    if (filters.status) query.where('status', filters.status);
    return query;
  };
  const [rows, count] = await Promise.all([
    filtered().select('*').orderBy('id', 'desc').limit(page.limit).offset(page.offset),
    filtered().count<Array<{ count: string }>>('* as count'),
  ]);
  return { rows: rows as KeyRow[], total: Number(count[0]?.count ?? 0) };
}

/** Every key of a master, oldest first (deletion and access propagation). */
export async function keysOfMaster(trx: Knex.Transaction, masterId: number): Promise<KeyRow[]> {
  return trx<KeyRow>('keys').where('master_id', masterId).orderBy('id').forUpdate();
}

/** Keys holding one of the master's max_child_keys slots (active or disabled). */
export async function countSlotKeys(trx: Knex.Transaction, masterId: number): Promise<number> {
  const [row] = await trx('keys')
    .where('master_id', masterId)
    .whereIn('status', [...SLOT_KEY_STATUSES])
    .count<Array<{ count: string }>>('* as count');
  return Number(row?.count ?? 0);
}

export async function updateKey(trx: Knex.Transaction, id: number, patch: KeyPatch): Promise<KeyRow | undefined> {
  const [row] = await trx('keys')
    .where('id', id)
    .update({ ...patch, updated_at: trx.fn.now() })
    .returning<KeyRow[]>('*');
  return row;
}

/** Un-pins the master's keys pinned to a group other than `group`; returns the changed keys. */
export async function unpinKeyGroups(trx: Knex.Transaction, masterId: number, group: string): Promise<KeyRow[]> {
  return trx('keys')
    .where('master_id', masterId)
    .whereNotNull('group')
    .whereNot('group', group)
    .update({ group: null, updated_at: trx.fn.now() })
    .returning<KeyRow[]>('*');
}

/**
 * quota_used = greatest(quota_used, spentMicros): spend only ever goes up here (the `stats` flush
 * and quota events). `updated_at` is left alone: it is not an admin's change.
 */
export async function raiseKeyQuotaUsed(trx: Knex.Transaction, id: number, spentMicros: number): Promise<KeyRow | undefined> {
  const [row] = await trx('keys')
    .where('id', id)
    .update({ quota_used: trx.raw('greatest(quota_used, ?::bigint)', [spentMicros]) })
    .returning<KeyRow[]>('*');
  return row;
}

/** quota_used = 0 (an explicit admin reset); `status` optionally changes in the same statement. */
export async function resetKeyQuota(trx: Knex.Transaction, id: number, status?: KeyStatus): Promise<KeyRow | undefined> {
  const [row] = await trx('keys')
    .where('id', id)
    .update({ quota_used: 0, ...(status ? { status } : {}), updated_at: trx.fn.now() })
    .returning<KeyRow[]>('*');
  return row;
}

export async function deleteKey(trx: Knex.Transaction, id: number): Promise<boolean> {
  return (await trx('keys').where('id', id).delete()) > 0;
}
