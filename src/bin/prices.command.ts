import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { cliSyncNudge, stdio, UsageError, type Io } from './cli-support.js';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { createKnex } from '../db/knex.js';
import { DEFAULT_PRICE_TABLE, parsePriceTableText, type PriceTable } from '../domain/pricing/price-table.js';
import { loadPrices, type PriceLoadResult } from '../domain/pricing/price-table.service.js';
import type { WriteContext } from '../domain/write-context.js';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { redactString } from '../lib/logger.js';

/**
 * `ez-api prices load`: loads the shipped default price table (or `--file`) into the model
 * registry (docs/pricing.md). stdout carries the summary; problems go to stderr. Exit codes: 0
 * done, 1 failed (e.g. database), 2 usage error, invalid file or configuration.
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

function parsePricesArgs(argv: string[]): PricesArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        file: { type: 'string', short: 'f' },
        overwrite: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
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
async function readTable(file: string | undefined, io: Io): Promise<PriceTable | undefined> {
  if (file === undefined) return DEFAULT_PRICE_TABLE;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    await io.err(`ez-api prices: cannot read ${file}: ${(err as Error).message}\n`);
    return undefined;
  }
  const parsed = parsePriceTableText(text);
  if (parsed.ok) return parsed.table;
  await io.err(`ez-api prices: ${file} is not a valid price table (${parsed.problems.length} problem(s)):\n${parsed.problems.map((p) => `  ${p}\n`).join('')}`);
  return undefined;
}

export async function pricesCommand(argv: string[], io: Io = stdio): Promise<number> {
  let args: PricesArgs | 'help';
  try {
    args = parsePricesArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await io.err(`ez-api prices: ${err.message}\n\n${PRICES_USAGE}`);
    return 2;
  }
  if (args === 'help') {
    await io.out(PRICES_USAGE);
    return 0;
  }
  const table = await readTable(args.file, io);
  if (!table) return 2;

  let config: Config;
  try {
    config = loadConfig();
    if (!config.pg.dsn) throw new ConfigError(['EZ_PG_DSN: required by prices load (e.g. postgres://user:pass@host:5432/ez_api)']);
  } catch (err) {
    if (err instanceof ConfigError) {
      await io.err(`ez-api prices: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const knex = createKnex({ dsn: config.pg.dsn, poolMax: 2, applicationName: 'ez-api-prices' });
  const queues: QueueSet | undefined = args.dryRun ? undefined : createQueues(config.redis, config.queuePrefix, ['sync']);
  const warnings: string[] = [];
  try {
    const result = await loadPrices(
      {
        knex,
        ...cliSyncNudge(queues, warnings),
      },
      PRICES_ACTOR,
      table,
      { overwrite: args.overwrite, dryRun: args.dryRun },
    );
    for (const w of warnings) await io.err(`ez-api prices: warning: ${w}\n`);
    await io.out(args.json ? `${JSON.stringify(result, null, 2)}\n` : formatPriceLoad(args.file ?? 'shipped with ez-api', result));
    return 0;
  } catch (err) {
    await io.err(`ez-api prices: failed, nothing was written: ${redactString(err instanceof Error ? err.message : String(err))}\n`);
    return 1;
  } finally {
    await queues?.close();
    await knex.destroy();
  }
}
