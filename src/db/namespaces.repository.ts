import type { Knex } from 'knex';
import { likeEscape } from './models.repository.js';

/** SQL for `namespaces` and for finding who refers to one (bindings, masters, keys by name). */

export interface NamespaceRow {
  id: number;
  name: string;
  description: string;
  created_at: Date;
  updated_at: Date;
}

export const NAMESPACES_NAME_UNIQUE = 'namespaces_name_unique';

/** The namespace every deployment has (masters default to it). */
export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_NAMESPACE_DESCRIPTION = 'The default namespace (always present)';

/**
 * Materialises the `default` namespace row if it is missing (idempotent, race-free through the
 * unique index). Called before every namespace read and before a binding refers to `default`.
 */
export async function ensureDefaultNamespace(db: Knex | Knex.Transaction): Promise<void> {
  await db('namespaces').insert({ name: DEFAULT_NAMESPACE, description: DEFAULT_NAMESPACE_DESCRIPTION }).onConflict('name').ignore();
}

export async function insertNamespace(trx: Knex.Transaction, fields: { name: string; description?: string }): Promise<NamespaceRow> {
  const [row] = await trx<NamespaceRow>('namespaces').insert(fields).returning('*');
  return row as NamespaceRow;
}

export async function findNamespace(db: Knex | Knex.Transaction, id: number, options: { forUpdate?: boolean } = {}): Promise<NamespaceRow | undefined> {
  const query = db<NamespaceRow>('namespaces').where('id', id).first();
  if (options.forUpdate) query.forUpdate();
  return query;
}

/**
 * A namespace by name. `lock: 'share'` (FOR KEY SHARE) keeps it from being deleted until the
 * caller's transaction ends, so a binding cannot be saved into a namespace being deleted.
 */
export async function findNamespaceByName(db: Knex | Knex.Transaction, name: string, options: { lock?: 'share' } = {}): Promise<NamespaceRow | undefined> {
  const query = db<NamespaceRow>('namespaces').where('name', name).first();
  if (options.lock === 'share') query.forKeyShare();
  return query;
}

export async function updateNamespace(trx: Knex.Transaction, id: number, fields: { description?: string }): Promise<NamespaceRow | undefined> {
  const [row] = await trx('namespaces')
    .where('id', id)
    .update({ ...fields, updated_at: trx.fn.now() })
    .returning<NamespaceRow[]>('*');
  return row;
}

export async function deleteNamespace(trx: Knex.Transaction, id: number): Promise<void> {
  await trx('namespaces').where('id', id).delete();
}

/** Newest first, offset-paginated, with the total count. */
export async function listNamespaces(knex: Knex, filters: { q?: string }, page: { limit: number; offset: number }): Promise<{ rows: NamespaceRow[]; total: number }> {
  const base = knex<NamespaceRow>('namespaces');
  if (filters.q) base.whereRaw(`name ilike ? escape '\\'`, [`%${likeEscape(filters.q)}%`]);
  const [rows, count] = await Promise.all([
    base.clone().select('*').orderBy('id', 'desc').limit(page.limit).offset(page.offset),
    base.clone().count<Array<{ count: string | number }>>('* as count'),
  ]);
  return { rows, total: Number(count[0]?.count ?? 0) };
}

export interface NamespaceUsers {
  bindings: Array<{ id: number; public_model: string }>;
  masters: Array<{ id: number; name: string }>;
  keys: Array<{ id: number; master_id: number }>;
  /** Total counts (the lists above are capped at `sample`). */
  counts: { bindings: number; masters: number; keys: number };
}

/**
 * Who still refers to a namespace by name: bindings in it, masters and child keys that list it in
 * `namespaces` or name it as `default_namespace`. Each list is capped at `sample` rows.
 */
export async function namespaceUsers(db: Knex | Knex.Transaction, name: string, sample = 5): Promise<NamespaceUsers> {
  const bindings = db('bindings').where('namespace', name);
  const masters = db('masters').where((q) => q.whereRaw('? = any(namespaces)', [name]).orWhere('default_namespace', name));
  const keys = db('keys').where((q) => q.whereRaw('? = any(namespaces)', [name]).orWhere('default_namespace', name));
  const count = async (q: Knex.QueryBuilder) => Number(((await q.clone().count('* as count')) as Array<{ count: string | number }>)[0]?.count ?? 0);
  // Sequential: inside a transaction all queries share one connection.
  const b = (await bindings.clone().select('id', 'public_model').orderBy('id').limit(sample)) as Array<{ id: number; public_model: string }>;
  const m = (await masters.clone().select('id', 'name').orderBy('id').limit(sample)) as Array<{ id: number; name: string }>;
  const k = (await keys.clone().select('id', 'master_id').orderBy('id').limit(sample)) as Array<{ id: number; master_id: number }>;
  const bc = await count(bindings);
  const mc = await count(masters);
  const kc = await count(keys);
  return { bindings: b, masters: m, keys: k, counts: { bindings: bc, masters: mc, keys: kc } };
}
