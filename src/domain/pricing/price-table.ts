import { z } from 'zod';
import type { ModelPrices } from '../../lib/pricing.js';
import { formatIssues } from '../import-export/plan.js';
import shippedTable from './default-prices.json' with { type: 'json' };

/**
 * Price tables (docs/pricing.md): a versioned list of models with their kind, token limits and
 * public list prices, loaded into the `models` registry by price-table.service.ts. The shipped
 * table is `default-prices.json`; operators may load their own file of the same format.
 * Everything here is pure: parsing, and the plan of what a load changes.
 */

/** A row's `price_source` when its prices came from table `version`. */
export const DEFAULT_SOURCE_PREFIX = 'default:';
export const ADMIN_SOURCE = 'admin';

export function defaultSource(version: string): string {
  return `${DEFAULT_SOURCE_PREFIX}${version}`;
}

/** True when the loader owns the row's prices (they came from some default table version). */
export function isDefaultSource(priceSource: string): boolean {
  return priceSource.startsWith(DEFAULT_SOURCE_PREFIX);
}

/** USD per 1M tokens (or per request): finite, ≥ 0, and below any real price. */
const usd = z.number().nonnegative().max(1_000_000);
const tokenLimit = z.number().int().positive().max(2_147_483_647).nullable();

export const priceTableModelSchema = z
  .object({
    kind: z.enum(['chat', 'embedding', 'rerank', 'other']),
    /** Tokens; null = not published. */
    context_window: tokenLimit,
    max_output_tokens: tokenLimit,
    input_per_1m: usd,
    output_per_1m: usd,
    /** 0 = no separate price: cache reads are billed at the input price. */
    cache_read_per_1m: usd,
    /** 0 = no separate price: cache writes are billed at the input price. */
    cache_write_per_1m: usd,
    per_request: usd,
  })
  .strict();

const modelName = z
  .string()
  .min(1)
  .max(200)
  .refine((name) => name.trim() === name, 'Model names have no leading or trailing spaces');

export const priceTableSchema = z
  .object({
    /** Goes into `price_source` as `default:<version>`; a date is the convention. */
    version: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'Must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"'),
    currency: z.literal('USD'),
    sources: z.array(z.url({ protocol: /^https?$/ })).min(1),
    notes: z.string().max(2_000).optional(),
    models: z.record(modelName, priceTableModelSchema).refine((models) => Object.keys(models).length > 0, 'List at least one model'),
  })
  .strict();

export type PriceTable = z.infer<typeof priceTableSchema>;
export type PriceTableModel = z.infer<typeof priceTableModelSchema>;

export type PriceTableParse = { ok: true; table: PriceTable } | { ok: false; problems: string[] };

/** Validates a parsed JSON value; each problem is `<json path>: <message>`. */
export function parsePriceTable(value: unknown): PriceTableParse {
  const parsed = priceTableSchema.safeParse(value);
  return parsed.success ? { ok: true, table: parsed.data } : { ok: false, problems: formatIssues(parsed.error.issues) };
}

/** Parses the text of a price table file. */
export function parsePriceTableText(text: string): PriceTableParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`(file): not valid JSON: ${(err as Error).message}`] };
  }
  return parsePriceTable(json);
}

function loadShipped(): PriceTable {
  const parsed = parsePriceTable(shippedTable);
  // A broken shipped table is a build defect, not an input error: fail loudly at start-up.
  if (!parsed.ok) throw new Error(`src/domain/pricing/default-prices.json is invalid:\n${parsed.problems.join('\n')}`);
  return parsed.table;
}

/** The table shipped with this release, validated once at module load. */
export const DEFAULT_PRICE_TABLE: PriceTable = loadShipped();

/** A table entry's prices in the cost rule's shape (src/lib/pricing.ts). */
export function tablePrices(model: PriceTableModel): ModelPrices {
  return {
    input_per_1m: model.input_per_1m,
    output_per_1m: model.output_per_1m,
    cache_read_per_1m: model.cache_read_per_1m,
    cache_write_per_1m: model.cache_write_per_1m,
    per_request: model.per_request,
  };
}

// ---------------------------------------------------------------------------------------------
// The plan of a load
// ---------------------------------------------------------------------------------------------

/** What the planner needs of an existing registry row. */
export interface RegisteredPrices {
  name: string;
  price_source: string;
  price_input: number;
  price_output: number;
  price_cache_read: number;
  price_cache_write: number;
  price_per_request: number;
}

export type PriceAction =
  /** Not in the registry: created with the table's kind, limits and prices. */
  | 'create'
  /** The loader owns the row (or `overwrite`): prices and price_source replaced. */
  | 'update'
  /** Already carries exactly this table version's prices: nothing to write. */
  | 'unchanged'
  /** An admin set the prices and `overwrite` is off: left alone. */
  | 'skip';

export interface PlannedModel {
  name: string;
  action: PriceAction;
  entry: PriceTableModel;
}

export interface PriceLoadOptions {
  /** Also replace prices an admin set (price_source `admin`). Default false. */
  overwrite?: boolean;
  /** Only these model names (those not in the table are ignored). Default: the whole table. */
  only?: readonly string[];
}

function samePrices(row: RegisteredPrices, entry: PriceTableModel): boolean {
  return (
    Number(row.price_input) === entry.input_per_1m &&
    Number(row.price_output) === entry.output_per_1m &&
    Number(row.price_cache_read) === entry.cache_read_per_1m &&
    Number(row.price_cache_write) === entry.cache_write_per_1m &&
    Number(row.price_per_request) === entry.per_request
  );
}

/** The names a load covers: the table's, narrowed to `only` when given; sorted for stable output. */
export function namesToLoad(table: PriceTable, only?: readonly string[]): string[] {
  const names = Object.keys(table.models);
  if (only === undefined) return names.sort();
  const wanted = new Set(only);
  return names.filter((n) => wanted.has(n)).sort();
}

/**
 * The overwrite rule, as one pure function: missing models are created; rows whose prices came
 * from a default table (`default:*`) follow the table; rows an admin priced (`admin`) are kept
 * unless `overwrite`. A row already at this version with the same prices is left unchanged.
 */
export function planPriceLoad(table: PriceTable, existing: ReadonlyMap<string, RegisteredPrices>, options: PriceLoadOptions = {}): PlannedModel[] {
  const source = defaultSource(table.version);
  return namesToLoad(table, options.only).map((name) => {
    const entry = table.models[name]!;
    const row = existing.get(name);
    let action: PriceAction;
    if (!row) action = 'create';
    else if (!isDefaultSource(row.price_source) && !options.overwrite) action = 'skip';
    else if (row.price_source === source && samePrices(row, entry)) action = 'unchanged';
    else action = 'update';
    return { name, action, entry };
  });
}

export interface PriceLoadCounts {
  created: number;
  updated: number;
  unchanged: number;
  skipped: number;
}

export function countActions(plan: readonly PlannedModel[]): PriceLoadCounts {
  const counts: PriceLoadCounts = { created: 0, updated: 0, unchanged: 0, skipped: 0 };
  for (const p of plan) {
    if (p.action === 'create') counts.created += 1;
    else if (p.action === 'update') counts.updated += 1;
    else if (p.action === 'unchanged') counts.unchanged += 1;
    else counts.skipped += 1;
  }
  return counts;
}
