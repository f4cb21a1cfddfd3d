import type { Knex } from 'knex';
import type { ApiKeySource, CandidateSource, GroupSource } from '../domain/sync/projections.js';

/**
 * SQL for `bindings` (explicit routes), and the provider-group / api-key reads that resolving
 * their candidates needs. Candidates are a jsonb array of CandidateSource.
 */

export type BindingStatus = 'active' | 'disabled';

export interface BindingRow {
  id: number;
  namespace: string;
  public_model: string;
  route_group: string;
  candidates: CandidateSource[];
  status: BindingStatus;
  created_at: Date;
  updated_at: Date;
}

export interface BindingFields {
  namespace: string;
  public_model: string;
  route_group: string;
  candidates: CandidateSource[];
  status: BindingStatus;
}

export const BINDINGS_UNIQUE = 'bindings_namespace_public_model_unique';

/** jsonb needs a JSON string: node-postgres would send a JS array as a PostgreSQL array. */
function toColumns(fields: Partial<BindingFields>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) columns[name] = name === 'candidates' ? JSON.stringify(value) : value;
  }
  return columns;
}

export async function insertBinding(trx: Knex.Transaction, fields: BindingFields): Promise<BindingRow> {
  const [row] = await trx('bindings').insert(toColumns(fields)).returning<BindingRow[]>('*');
  return row as BindingRow;
}

export async function findBinding(db: Knex | Knex.Transaction, id: number, options: { forUpdate?: boolean } = {}): Promise<BindingRow | undefined> {
  const query = db<BindingRow>('bindings').where('id', id).first();
  if (options.forUpdate) query.forUpdate();
  return query;
}

export async function updateBinding(trx: Knex.Transaction, id: number, fields: Partial<BindingFields>): Promise<BindingRow | undefined> {
  const [row] = await trx('bindings')
    .where('id', id)
    .update({ ...toColumns(fields), updated_at: trx.fn.now() })
    .returning<BindingRow[]>('*');
  return row;
}

export async function deleteBinding(trx: Knex.Transaction, id: number): Promise<void> {
  await trx('bindings').where('id', id).delete();
}

export interface BindingFilters {
  namespace?: string;
  public_model?: string;
  status?: BindingStatus;
}

/** Newest first, offset-paginated, with the total matching count. */
export async function listBindings(knex: Knex, filters: BindingFilters, page: { limit: number; offset: number }): Promise<{ rows: BindingRow[]; total: number }> {
  const base = knex<BindingRow>('bindings');
  if (filters.namespace !== undefined) base.where('namespace', filters.namespace);
  if (filters.public_model !== undefined) base.where('public_model', filters.public_model);
  if (filters.status !== undefined) base.where('status', filters.status);
  const [rows, count] = await Promise.all([
    base.clone().select('*').orderBy('id', 'desc').limit(page.limit).offset(page.offset),
    base.clone().count<Array<{ count: string | number }>>('* as count'),
  ]);
  return { rows, total: Number(count[0]?.count ?? 0) };
}

/** Ids among `ids` that name an existing provider group. */
export async function existingGroupIds(db: Knex | Knex.Transaction, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = (await db('provider_groups').select('id').whereIn('id', [...new Set(ids)])) as Array<{ id: number }>;
  return new Set(rows.map((r) => r.id));
}

/** The current provider groups and their upstream keys (no secrets) for candidate resolution. */
export async function resolutionSources(
  db: Knex | Knex.Transaction,
  groupIds: readonly number[],
): Promise<{ groups: GroupSource[]; keys: Array<Omit<ApiKeySource, 'secret'>> }> {
  const ids = [...new Set(groupIds)];
  if (ids.length === 0) return { groups: [], keys: [] };
  // Sequential: `db` may be a transaction, whose queries share one connection.
  const groups = (await db('provider_groups')
    .select(
      'id',
      'name',
      'type',
      'route_group',
      'base_url',
      'google_project',
      'google_location',
      'models',
      'status',
      'connect_timeout_ms',
      'first_byte_timeout_ms',
      'idle_timeout_ms',
      'request_timeout_ms',
    )
    .whereIn('id', ids)) as GroupSource[];
  const keys = (await db('api_keys')
    .select('id', 'group_id', 'weight', 'status', 'auto_ban', 'ban_until')
    .whereIn('group_id', ids)
    .orderBy('id')) as Array<Omit<ApiKeySource, 'secret'>>;
  return { groups, keys };
}
