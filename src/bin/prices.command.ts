import { invalidFile, jsonOrText, loadCommandConfig, parseCommandArgs, readInputFile, runCommand, stdio, UsageError, type Io } from './cli-support.js';
import { DEFAULT_PRICE_TABLE, parsePriceTableText, type PriceTable } from '../domain/pricing/price-table.js';
import { loadPrices, type PriceLoadResult } from '../domain/pricing/price-table.service.js';
import type { WriteContext } from '../domain/write-context.js';

/**
 * `ez-api prices load`: loads the shipped default price table (or `--file`) into the model
 * registry (docs/pricing.md). stdout carries the summary; problems go to stderr. Exit codes
 * (cli-support.ts): 0 done, 1 failed (e.g. database), 2 usage error, invalid file or configuration.
 */

export const PRICES_USAGE = `Usage: ez-api prices load [--file FILE] [--overwrite] [--dry-run] [--json]

Loads a price table into the model registry: creates missing models with their kind, limits and
list prices, refreshes prices that came from a default table (price_source "default:*"), and keeps
prices an admin set (price_source "admin"). Needs EZ_PG_DSN; nudges the sync worker through Redis.

  --file FILE    a table in the default-prices.json format (default: the table shipped with ez-api)
  --overwrite    also replace prices an admin set
  --dry-run      count what would change; write nothing
  --json         print the result as JSON
`;

/** Who the audit event names. */
export const PRICES_ACTOR: WriteContext = { actor: { type: 'system', id: 'prices-load' } };

interface PricesArgs {
  file: string | undefined;
  overwrite: boolean;
  dryRun: boolean;
  json: boolean;
}

function parsePricesArgs(argv: string[]): PricesArgs {
  const { values, positionals } = parseCommandArgs(argv, {
    options: {
      file: { type: 'string', short: 'f' },
      overwrite: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const [sub, ...extra] = positionals;
  if (sub !== 'load') throw new UsageError(sub === undefined ? 'missing subcommand (load)' : `unknown subcommand "${sub}" (expected: load)`);
  if (extra.length > 0) throw new UsageError(`unexpected argument(s): ${extra.join(' ')}`);
  if (values.file === '') throw new UsageError('--file needs a file name');
  return { file: values.file, overwrite: values.overwrite, dryRun: values['dry-run'], json: values.json };
}

/** The readable summary (stdout). */
export function formatPriceLoad(origin: string, r: PriceLoadResult): string {
  const lines = [`Price table ${r.version} (${origin})`];
  if (r.dry_run) lines.push('DRY RUN: nothing was written.');
  lines.push(`Admin-set prices: ${r.overwrite ? 'replaced (--overwrite)' : 'kept (--overwrite replaces them)'}`, '');
  const row = (label: string, n: number) => `${label.padEnd(11)}${String(n).padStart(5)}`;
  lines.push(row('created', r.created), row('updated', r.updated), row('unchanged', r.unchanged), row('skipped', r.skipped));
  if (r.models.skipped.length > 0) lines.push('', `Skipped (admin prices): ${r.models.skipped.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** The table to load: the shipped one, or `--file` validated before anything connects. */
async function readTable(file: string | undefined): Promise<PriceTable> {
  if (file === undefined) return DEFAULT_PRICE_TABLE;
  const parsed = parsePriceTableText(await readInputFile(file));
  if (!parsed.ok) throw invalidFile(file, 'price table', parsed.problems);
  return parsed.table;
}

export function pricesCommand(argv: string[], io: Io = stdio): Promise<number> {
  return runCommand('prices', PRICES_USAGE, io, async (command) => {
    const args = parsePricesArgs(argv);
    const table = await readTable(args.file);
    const loaded = loadCommandConfig('prices load');
    return command.connect(loaded, { nudge: !args.dryRun, failed: 'failed, nothing was written' }, async ({ deps, finish }) => {
      const result = await loadPrices(deps, PRICES_ACTOR, table, { overwrite: args.overwrite, dryRun: args.dryRun });
      return finish(jsonOrText(result, args.json, (r) => formatPriceLoad(args.file ?? 'shipped with ez-api', r)));
    });
  });
}
