import type { Knex } from 'knex';

/** SQL for `models`, the model registry (capabilities and list prices). */

export type ModelKind = 'chat' | 'embedding' | 'rerank' | 'other';

export interface ModelRow {
  id: number;
  name: string;
  kind: ModelKind;
  context_window: number | null;
  max_output_tokens: number | null;
  supports_stream: boolean;
  supports_vision: boolean;
  supports_functions: boolean;
  supports_tool_choice: boolean;
  supports_fim: boolean;
  /** Per 1M tokens (numeric, read as a number: src/db/knex.ts). */
  price_input: number;
  price_output: number;
  price_cache_read: number;
  price_cache_write: number;
  price_per_request: number;
  /** Where the prices came from: `default:<table version>` (the price loader owns them) or `admin`. */
  price_source: string;
  created_at: Date;
  updated_at: Date;
}

export type ModelFields = Omit<ModelRow, 'id' | 'created_at' | 'updated_at'>;

/** The unique index on models.name (knex's default name). */
export const MODELS_NAME_UNIQUE = 'models_name_unique';

/** True for a PostgreSQL unique violation, optionally of one named constraint. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; constraint?: unknown; nativeError?: unknown };
  if (e.code === '23505') return constraint === undefined || e.constraint === constraint;
  return e.nativeError !== undefined && e.nativeError !== err ? isUniqueViolation(e.nativeError, constraint) : false;
}

/** The fields that are set (an absent PATCH field leaves its column alone). */
export function definedOnly<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `%`, `_` and `\` taken literally inside an ILIKE pattern. */
export function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export async function insertModel(trx: Knex.Transaction, fields: Partial<ModelFields> & { name: string }): Promise<ModelRow> {
  const [row] = await trx<ModelRow>('models').insert(fields).returning('*');
  return row as ModelRow;
}

/** Rows with these exact names; `forUpdate` locks them for the rest of the transaction. */
export async function findModelsByName(db: Knex | Knex.Transaction, names: readonly string[], options: { forUpdate?: boolean } = {}): Promise<ModelRow[]> {
  if (names.length === 0) return [];
  const query = db<ModelRow>('models').select('*').whereIn('name', [...names]);
  if (options.forUpdate) query.forUpdate();
  return query;
}

/** Inserts rows whose name is still free; returns the rows actually inserted (a name taken meanwhile is left out). */
export async function insertModelsIfAbsent(trx: Knex.Transaction, rows: ReadonlyArray<Partial<ModelFields> & { name: string }>): Promise<ModelRow[]> {
  if (rows.length === 0) return [];
  return trx('models').insert([...rows]).onConflict('name').ignore().returning<ModelRow[]>('*');
}

export async function findModel(db: Knex | Knex.Transaction, id: number, options: { forUpdate?: boolean } = {}): Promise<ModelRow | undefined> {
  const query = db<ModelRow>('models').where('id', id).first();
  if (options.forUpdate) query.forUpdate();
  return query;
}

export async function updateModel(trx: Knex.Transaction, id: number, fields: Partial<ModelFields>): Promise<ModelRow | undefined> {
  const [row] = await trx('models')
    .where('id', id)
    .update({ ...definedOnly(fields), updated_at: trx.fn.now() })
    .returning<ModelRow[]>('*');
  return row;
}

export async function deleteModel(trx: Knex.Transaction, id: number): Promise<ModelRow | undefined> {
  const [row] = await trx<ModelRow>('models').where('id', id).delete().returning('*');
  return row as ModelRow | undefined;
}

export interface ModelFilters {
  kind?: ModelKind;
  /** Case-insensitive substring of the name. */
  q?: string;
}

/** Newest first, offset-paginated, with the total matching count. */
export async function listModels(knex: Knex, filters: ModelFilters, page: { limit: number; offset: number }): Promise<{ rows: ModelRow[]; total: number }> {
  const base = knex<ModelRow>('models');
  if (filters.kind) base.where('kind', filters.kind);
  if (filters.q) base.whereRaw(`name ilike ? escape '\\'`, [`%${likeEscape(filters.q)}%`]);
  const [rows, count] = await Promise.all([
    base.clone().select('*').orderBy('id', 'desc').limit(page.limit).offset(page.offset),
    base.clone().count<Array<{ count: string | number }>>('* as count'),
  ]);
  return { rows, total: Number(count[0]?.count ?? 0) };
}
