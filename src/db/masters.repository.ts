import type { Knex } from 'knex';
import type { Budgets } from '../lib/budgets.js';

/** SQL for `masters` (tenants). */

export type MasterStatus = 'active' | 'suspended';

export interface MasterRow {
  id: number;
  name: string;
  group: string;
  namespaces: string[];
  default_namespace: string;
  max_child_keys: number;
  global_qps: number;
  status: MasterStatus;
  epoch: number;
  /** Lifetime quota over all the master's traffic, µ$ of actual cost; -1 = unlimited. */
  quota_limit: number;
  /** µ$ spent as far as PostgreSQL knows (raised by the `stats` flush and quota events). */
  quota_used: number;
  /** Periodic budgets (src/lib/budgets.ts); `{}` = none. */
  budgets: Budgets;
  key_digest: string;
  key_prefix: string;
  key_last4: string;
  created_at: Date;
  updated_at: Date;
}

/** quota_limit and budgets default in the table (-1, `{}`). */
export type NewMasterRow = Omit<MasterRow, 'id' | 'epoch' | 'quota_limit' | 'quota_used' | 'budgets' | 'created_at' | 'updated_at'> &
  Partial<Pick<MasterRow, 'quota_limit' | 'budgets'>>;

/** Columns a write may change (the key columns only by rotation, epoch only by revocation). */
export type MasterPatch = Partial<
  Pick<
    MasterRow,
    'name' | 'group' | 'namespaces' | 'default_namespace' | 'max_child_keys' | 'global_qps' | 'status' | 'quota_limit' | 'budgets' | 'key_digest' | 'key_prefix' | 'key_last4'
  >
>;

export interface MasterFilters {
  status?: MasterStatus;
  group?: string;
  /** Case-insensitive substring of the name. */
  q?: string;
}

export interface OffsetPage {
  limit: number;
  offset: number;
}

/** The unique index on masters.name (knex's `<table>_<column>_unique`). */
export const MASTERS_NAME_UNIQUE = 'masters_name_unique';

export async function findMasterByKeyDigest(knex: Knex, digest: string): Promise<MasterRow | undefined> {
  return knex<MasterRow>('masters').where('key_digest', digest).first();
}

export async function findMasterById(db: Knex, id: number): Promise<MasterRow | undefined> {
  return db<MasterRow>('masters').where('id', id).first();
}

/**
 * Reads the master and holds its row lock until the transaction ends: issuance counts child keys
 * under this lock, so concurrent issuance for one master is serialised and cannot pass max_child_keys.
 */
export async function lockMaster(trx: Knex.Transaction, id: number): Promise<MasterRow | undefined> {
  return trx<MasterRow>('masters').where('id', id).forUpdate().first();
}

export async function insertMaster(trx: Knex.Transaction, row: NewMasterRow): Promise<MasterRow> {
  const [inserted] = await trx('masters').insert(row).returning<MasterRow[]>('*');
  return inserted!;
}

/** Newest first; `total` counts every match regardless of the page. */
export async function listMasters(db: Knex, filters: MasterFilters, page: OffsetPage): Promise<{ rows: MasterRow[]; total: number }> {
  const filtered = () => {
    const query = db<MasterRow>('masters');
    if (filters.status) query.where('status', filters.status);
    if (filters.group) query.where('group', filters.group);
    if (filters.q) query.whereILike('name', `%${escapeLike(filters.q)}%`);
    return query;
  };
  const [rows, count] = await Promise.all([
    filtered().select('*').orderBy('id', 'desc').limit(page.limit).offset(page.offset),
    filtered().count<Array<{ count: string }>>('* as count'),
  ]);
  return { rows: rows as MasterRow[], total: Number(count[0]?.count ?? 0) };
}

export async function updateMaster(trx: Knex.Transaction, id: number, patch: MasterPatch): Promise<MasterRow | undefined> {
  const [row] = await trx('masters')
    .where('id', id)
    .update({ ...patch, updated_at: trx.fn.now() })
    .returning<MasterRow[]>('*');
  return row;
}

/** Revokes every child key issued so far: the gateway accepts a key only while issued_at_epoch >= epoch. */
export async function bumpMasterEpoch(trx: Knex.Transaction, id: number): Promise<MasterRow | undefined> {
  const [row] = await trx('masters')
    .where('id', id)
    .update({ epoch: trx.raw('epoch + 1'), updated_at: trx.fn.now() })
    .returning<MasterRow[]>('*');
  return row;
}

/** quota_used = greatest(quota_used, spentMicros); `updated_at` untouched (not an admin's change). */
export async function raiseMasterQuotaUsed(trx: Knex.Transaction, id: number, spentMicros: number): Promise<MasterRow | undefined> {
  const [row] = await trx('masters')
    .where('id', id)
    .update({ quota_used: trx.raw('greatest(quota_used, ?::bigint)', [spentMicros]) })
    .returning<MasterRow[]>('*');
  return row;
}

/** quota_used = 0 (an explicit admin reset). */
export async function resetMasterQuota(trx: Knex.Transaction, id: number): Promise<MasterRow | undefined> {
  const [row] = await trx('masters').where('id', id).update({ quota_used: 0, updated_at: trx.fn.now() }).returning<MasterRow[]>('*');
  return row;
}

/** Deletes the master; PostgreSQL cascades its child keys. */
export async function deleteMaster(trx: Knex.Transaction, id: number): Promise<boolean> {
  return (await trx('masters').where('id', id).delete()) > 0;
}

/**
 * Which of `names` exist as rows of `namespaces`. (`default` needs no row; callers add it.)
 * Namespaces are referenced by name from text[] columns, which cannot carry foreign keys.
 */
export async function existingNamespaces(db: Knex, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await db('namespaces').select('name').whereIn('name', [...names]);
  return (rows as Array<{ name: string }>).map((r) => r.name);
}

/** True for PostgreSQL's unique_violation (23505), optionally on one named constraint. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/** `%`, `_` and `\` match literally inside an ILIKE pattern. */
function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
