import type { Knex } from 'knex';
import {
  MODELS_NAME_UNIQUE,
  deleteModel,
  findModel,
  insertModel,
  isUniqueViolation,
  listModels,
  updateModel,
  type ModelFields,
  type ModelFilters,
  type ModelRow,
} from '../db/models.repository.js';
import { ConflictError, NotFoundError } from '../lib/errors.js';
import { ADMIN_SOURCE } from './pricing/price-table.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * The model registry (`/admin/models`): capabilities and list prices per 1M tokens. Every write
 * re-syncs the routing projection (`meta:models` is built from these rows).
 */

/** A model as the API shows it: the row, with times as ISO strings. */
export type ModelDto = Omit<ModelRow, 'created_at' | 'updated_at'> & { created_at: string; updated_at: string };

/** `price_source` is not input: the service sets it (docs/pricing.md). */
export type ModelCreateInput = Partial<Omit<ModelFields, 'price_source'>> & { name: string };
export type ModelUpdateInput = Partial<Omit<ModelFields, 'price_source'>>;

const PRICE_FIELDS = ['price_input', 'price_output', 'price_cache_read', 'price_cache_write', 'price_per_request'] as const;

/** An admin who sets any price owns the model's prices from then on: the default-table loader leaves them alone. */
export function withPriceSource<T extends ModelUpdateInput>(input: T): T & { price_source?: string } {
  return PRICE_FIELDS.some((f) => input[f] !== undefined) ? { ...input, price_source: ADMIN_SOURCE } : input;
}

export interface Page {
  limit: number;
  offset: number;
}

export interface ListResult<T> {
  data: T[];
  pagination: { limit: number; offset: number; total: number };
}

export function toModelDto(row: ModelRow): ModelDto {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    context_window: row.context_window,
    max_output_tokens: row.max_output_tokens,
    supports_stream: row.supports_stream,
    supports_vision: row.supports_vision,
    supports_functions: row.supports_functions,
    supports_tool_choice: row.supports_tool_choice,
    supports_fim: row.supports_fim,
    price_input: Number(row.price_input),
    price_output: Number(row.price_output),
    price_cache_read: Number(row.price_cache_read),
    price_cache_write: Number(row.price_cache_write),
    price_per_request: Number(row.price_per_request),
    price_source: row.price_source,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function duplicateName(name: string): ConflictError {
  return new ConflictError(`A model named "${name}" already exists`, [{ field: 'body.name', message: 'Already exists' }]);
}

export async function listModelDtos(knex: Knex, filters: ModelFilters, page: Page): Promise<ListResult<ModelDto>> {
  const { rows, total } = await listModels(knex, filters, page);
  return { data: rows.map(toModelDto), pagination: { ...page, total } };
}

export async function getModel(knex: Knex, id: number): Promise<ModelDto> {
  const row = await findModel(knex, id);
  if (!row) throw new NotFoundError('model', id);
  return toModelDto(row);
}

export async function createModel(deps: WriteDeps, ctx: WriteContext, input: ModelCreateInput): Promise<ModelDto> {
  try {
    return await write(deps, ctx, async (unit) => {
      const row = await insertModel(unit.trx, { ...input, price_source: ADMIN_SOURCE });
      await unit.audit('model.create', { type: 'model', id: row.id }, { name: row.name });
      await unit.sync({ resource: 'routing', action: 'upsert' });
      return toModelDto(row);
    });
  } catch (err) {
    if (isUniqueViolation(err, MODELS_NAME_UNIQUE)) throw duplicateName(input.name);
    throw err;
  }
}

export async function updateModelById(deps: WriteDeps, ctx: WriteContext, id: number, input: ModelUpdateInput): Promise<ModelDto> {
  try {
    return await write(deps, ctx, async (unit) => {
      const before = await findModel(unit.trx, id, { forUpdate: true });
      if (!before) throw new NotFoundError('model', id);
      const row = (await updateModel(unit.trx, id, withPriceSource(input))) ?? before;
      await unit.audit('model.update', { type: 'model', id }, { name: row.name, fields: Object.keys(input).sort() });
      await unit.sync({ resource: 'routing', action: 'upsert' });
      return toModelDto(row);
    });
  } catch (err) {
    if (isUniqueViolation(err, MODELS_NAME_UNIQUE) && input.name !== undefined) throw duplicateName(input.name);
    throw err;
  }
}

export async function deleteModelById(deps: WriteDeps, ctx: WriteContext, id: number): Promise<void> {
  await write(deps, ctx, async (unit) => {
    const row = await deleteModel(unit.trx, id);
    if (!row) throw new NotFoundError('model', id);
    await unit.audit('model.delete', { type: 'model', id }, { name: row.name });
    await unit.sync({ resource: 'routing', action: 'upsert' });
  });
}
