import type { Knex } from 'knex';
import type { ProviderType } from '../domain/provider-presets.js';

/** SQL for `provider_groups` (DESIGN §4): one upstream endpoint of one type. */

export interface ProviderGroupRow {
  id: number;
  name: string;
  type: ProviderType;
  route_group: string;
  base_url: string | null;
  google_project: string | null;
  google_location: string | null;
  models: string[];
  status: 'active' | 'disabled';
  connect_timeout_ms: number | null;
  first_byte_timeout_ms: number | null;
  idle_timeout_ms: number | null;
  request_timeout_ms: number | null;
  created_at: Date;
  updated_at: Date;
}

/** A group with the number of upstream keys it holds. */
export interface ProviderGroupWithCount extends ProviderGroupRow {
  api_key_count: number;
}

export type ProviderGroupValues = Omit<ProviderGroupRow, 'id' | 'created_at' | 'updated_at'>;

export interface ProviderGroupFilters {
  status?: ProviderGroupRow['status'];
  type?: ProviderType;
  route_group?: string;
}

export interface Page {
  limit: number;
  offset: number;
}

const NAME_UNIQUE_CONSTRAINT = 'provider_groups_name_unique';

/** True when `err` is PostgreSQL refusing a second group with the same name. */
export function isDuplicateGroupName(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown; nativeError?: { code?: unknown; constraint?: unknown } } | null;
  const native = e?.nativeError ?? e;
  return native?.code === '23505' && native.constraint === NAME_UNIQUE_CONSTRAINT;
}

function withCount(db: Knex | Knex.Transaction): Knex.QueryBuilder {
  return db('provider_groups as g').select(
    'g.*',
    db.raw('(select count(*)::int from api_keys k where k.group_id = g.id) as api_key_count'),
  );
}

export async function insertProviderGroup(trx: Knex.Transaction, values: ProviderGroupValues): Promise<ProviderGroupRow> {
  const [row] = await trx('provider_groups').insert(values).returning<ProviderGroupRow[]>('*');
  return row!;
}

export async function findProviderGroup(db: Knex | Knex.Transaction, id: number): Promise<ProviderGroupWithCount | undefined> {
  return (await withCount(db).where('g.id', id).first()) as ProviderGroupWithCount | undefined;
}

/** Locks the row for the rest of the transaction (read-modify-write of a PATCH). */
export async function lockProviderGroup(trx: Knex.Transaction, id: number): Promise<ProviderGroupRow | undefined> {
  return (await trx('provider_groups').select('*').where('id', id).forUpdate().first()) as ProviderGroupRow | undefined;
}

/** Newest first. */
export async function listProviderGroups(
  db: Knex,
  filters: ProviderGroupFilters,
  page: Page,
): Promise<{ rows: ProviderGroupWithCount[]; total: number }> {
  const apply = (q: Knex.QueryBuilder): Knex.QueryBuilder => {
    if (filters.status) q.where('g.status', filters.status);
    if (filters.type) q.where('g.type', filters.type);
    if (filters.route_group) q.where('g.route_group', filters.route_group);
    return q;
  };
  const rows = (await apply(withCount(db)).orderBy('g.id', 'desc').limit(page.limit).offset(page.offset)) as ProviderGroupWithCount[];
  const counted = (await apply(db('provider_groups as g').count<Array<{ total: string | number }>>('* as total')).first()) as
    | { total: string | number }
    | undefined;
  return { rows, total: Number(counted?.total ?? 0) };
}

export async function updateProviderGroup(trx: Knex.Transaction, id: number, values: Partial<ProviderGroupValues>): Promise<ProviderGroupRow> {
  const [row] = await trx('provider_groups')
    .where('id', id)
    .update({ ...values, updated_at: trx.fn.now() })
    .returning<ProviderGroupRow[]>('*');
  return row!;
}

/** Deletes the group; PostgreSQL cascades its api_keys. Returns the deleted row and how many keys went with it. */
export async function deleteProviderGroup(
  trx: Knex.Transaction,
  id: number,
): Promise<{ row: ProviderGroupRow; apiKeyCount: number } | undefined> {
  const locked = await lockProviderGroup(trx, id);
  if (!locked) return undefined;
  const counted = (await trx('api_keys').where('group_id', id).count<Array<{ n: string | number }>>('* as n').first()) as { n: string | number } | undefined;
  await trx('provider_groups').where('id', id).delete();
  return { row: locked, apiKeyCount: Number(counted?.n ?? 0) };
}
