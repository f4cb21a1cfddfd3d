import type { Knex } from 'knex';
import { findModelsByName, insertModelsIfAbsent, updateModel, type ModelFields, type ModelRow } from '../../db/models.repository.js';
import { write, type WriteContext, type WriteDeps } from '../write-context.js';
import {
  countActions,
  defaultSource,
  namesToLoad,
  planPriceLoad,
  type PlannedModel,
  type PriceLoadCounts,
  type PriceLoadOptions,
  type PriceTable,
  type PriceTableModel,
} from './price-table.js';

/**
 * Loads a price table into the `models` registry (docs/pricing.md) through the control plane's
 * write path, so the sync outbox pushes the new prices to `meta:models`. One transaction: the
 * rows named by the table are locked, planned (price-table.ts) and written together.
 */

export interface PriceLoadResult extends PriceLoadCounts {
  version: string;
  dry_run: boolean;
  overwrite: boolean;
  /** Model names by what happened to them, sorted. */
  models: { created: string[]; updated: string[]; unchanged: string[]; skipped: string[] };
}

export interface LoadPricesOptions extends PriceLoadOptions {
  /** Plan and count only; nothing is written. */
  dryRun?: boolean;
}

function priceColumns(entry: PriceTableModel, version: string): Pick<ModelFields, 'price_input' | 'price_output' | 'price_cache_read' | 'price_cache_write' | 'price_per_request' | 'price_source'> {
  return {
    price_input: entry.input_per_1m,
    price_output: entry.output_per_1m,
    price_cache_read: entry.cache_read_per_1m,
    price_cache_write: entry.cache_write_per_1m,
    price_per_request: entry.per_request,
    price_source: defaultSource(version),
  };
}

function newRow(p: PlannedModel, version: string): Partial<ModelFields> & { name: string } {
  return {
    name: p.name,
    kind: p.entry.kind,
    context_window: p.entry.context_window,
    max_output_tokens: p.entry.max_output_tokens,
    ...priceColumns(p.entry, version),
  };
}

function summarize(table: PriceTable, plan: readonly PlannedModel[], options: LoadPricesOptions): PriceLoadResult {
  const names = (action: PlannedModel['action']) => plan.filter((p) => p.action === action).map((p) => p.name);
  return {
    version: table.version,
    dry_run: options.dryRun ?? false,
    overwrite: options.overwrite ?? false,
    ...countActions(plan),
    models: { created: names('create'), updated: names('update'), unchanged: names('unchanged'), skipped: names('skip') },
  };
}

async function planFor(db: Knex | Knex.Transaction, table: PriceTable, options: PriceLoadOptions, forUpdate: boolean): Promise<PlannedModel[]> {
  const rows = await findModelsByName(db, namesToLoad(table, options.only), { forUpdate });
  return planPriceLoad(table, new Map(rows.map((r): [string, ModelRow] => [r.name, r])), options);
}

/**
 * Applies a table inside the caller's transaction (the loader below, and the preset path of
 * providers.service.ts, which seeds its models in its own write). Writes rows only; the caller
 * records the audit event and the routing outbox row when `changed` is true.
 */
export async function applyPriceTable(trx: Knex.Transaction, table: PriceTable, options: PriceLoadOptions = {}): Promise<PriceLoadResult & { changed: boolean }> {
  const plan = await planFor(trx, table, options, true);
  const creates = plan.filter((p) => p.action === 'create');
  const inserted = new Set((await insertModelsIfAbsent(trx, creates.map((p) => newRow(p, table.version)))).map((r) => r.name));
  // A name created by someone else since the plan was made keeps their row: counted as skipped.
  const final = plan.map((p): PlannedModel => (p.action === 'create' && !inserted.has(p.name) ? { ...p, action: 'skip' } : p));
  const updates = final.filter((p) => p.action === 'update');
  if (updates.length > 0) {
    const ids = new Map((await findModelsByName(trx, updates.map((p) => p.name))).map((r) => [r.name, r.id]));
    for (const p of updates) await updateModel(trx, ids.get(p.name)!, priceColumns(p.entry, table.version));
  }
  return { ...summarize(table, final, { ...options, dryRun: false }), changed: inserted.size + updates.length > 0 };
}

/**
 * `ez-api prices load` and `POST /admin/models/prices/load`: creates missing models, refreshes
 * prices the loader owns, keeps prices an admin set unless `overwrite`. One audit event and one
 * routing outbox row when anything changed; a dry run only reads.
 */
export async function loadPrices(deps: WriteDeps, ctx: WriteContext, table: PriceTable, options: LoadPricesOptions = {}): Promise<PriceLoadResult> {
  if (options.dryRun) return summarize(table, await planFor(deps.knex, table, options, false), options);
  return write(deps, ctx, async (unit) => {
    const { changed, ...result } = await applyPriceTable(unit.trx, table, options);
    if (changed) {
      await unit.audit(
        'model.prices_load',
        { type: 'model', id: null },
        { version: result.version, overwrite: result.overwrite, created: result.created, updated: result.updated, unchanged: result.unchanged, skipped: result.skipped },
      );
      await unit.sync({ resource: 'routing', action: 'upsert' });
    }
    return result;
  });
}
