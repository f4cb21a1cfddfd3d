import { writeFile } from 'node:fs/promises';
import {
  invalidFile,
  jsonOrText,
  jsonText,
  loadCommandConfig,
  parseCommandArgs,
  readInputFile,
  runCommand,
  stdio,
  UsageError,
  type Io,
} from './cli-support.js';
import { exportConfiguration } from '../domain/import-export/export.service.js';
import { runImport, type ImportSummary } from '../domain/import-export/import.service.js';
import { CONFLICT_POLICIES, ENTITY_KINDS, parseImportFile, type ConflictPolicy, type EntityKind } from '../domain/import-export/plan.js';
import { KeyDigester } from '../lib/key-digest.js';
import { SecretBox } from '../lib/secret-box.js';
import { buildInfo } from '../lib/version.js';

/**
 * `ez-api import FILE` and `ez-api export`: one-shot commands over PostgreSQL (docs/import-export.md).
 * stdout carries only the result (the summary, `--json`, or the exported document); problems and
 * warnings about the run go to stderr. Exit codes (cli-support.ts): 0 done, 1 failed (e.g.
 * database), 2 usage error or invalid file / configuration. Nothing here logs an upstream secret
 * or an original token.
 */

export const IMPORT_USAGE = `Usage: ez-api import FILE [--dry-run] [--conflict skip|overwrite] [--include-bindings] [--json]

Imports providers, masters, child keys, registry models (and with --include-bindings, bindings)
from an exporter-format 1.0.0 or 1.1.0 JSON file, in one transaction. Needs EZ_PG_DSN and the
deployment's EZ_SECRET.

  --dry-run            do everything, then roll back: same counts and warnings, nothing written
  --conflict POLICY    what to do with existing groups/masters/models (by name) and keys (by digest):
                       skip (default) leaves them untouched, overwrite updates in place the
                       fields the file gives (fields it leaves out keep their values)
  --include-bindings   also import bindings (off by default)
  --json               print the summary as JSON
`;

export const EXPORT_USAGE = `Usage: ez-api export [--out FILE]

Writes providers, masters, child keys, bindings and the model registry as an exporter-format
1.1.0 JSON document to stdout, or to FILE (created with mode 0600). Upstream secrets and master keys are not exported;
child keys are exported as digests, usable again under the same EZ_SECRET.
`;

/**
 * Who the missing-EZ_PG_DSN message names. Both commands resolve EZ_SECRET: import encrypts and
 * digests with it, and an export's key digests are only usable under the same one.
 */
const DSN_REQUIRED_BY = 'import/export';

// ---------------------------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------------------------

interface ImportArgs {
  file: string;
  dryRun: boolean;
  conflict: ConflictPolicy;
  includeBindings: boolean;
  json: boolean;
}

function parseImportArgs(argv: string[]): ImportArgs {
  const { values, positionals } = parseCommandArgs(argv, {
    options: {
      'dry-run': { type: 'boolean', default: false },
      conflict: { type: 'string', default: 'skip' },
      'include-bindings': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) throw new UsageError('missing FILE');
  if (positionals.length > 1) throw new UsageError(`expected one FILE, got ${positionals.length}: ${positionals.join(' ')}`);
  const conflict = values.conflict as ConflictPolicy;
  if (!CONFLICT_POLICIES.includes(conflict)) throw new UsageError(`--conflict must be one of ${CONFLICT_POLICIES.join(', ')}, not "${values.conflict}"`);
  return { file: positionals[0]!, dryRun: values['dry-run'], conflict, includeBindings: values['include-bindings'], json: values.json };
}

const ENTITY_LABELS: Record<EntityKind, string> = {
  provider_groups: 'provider groups',
  api_keys: 'upstream api keys',
  masters: 'masters',
  keys: 'child keys',
  namespaces: 'namespaces',
  bindings: 'bindings',
  models: 'models',
};

/** The readable summary (stdout). Master keys appear here once, as in a creation response. */
export function formatImportSummary(file: string, s: ImportSummary): string {
  const lines: string[] = [];
  const exported = s.source.exported_at ? `, exported ${s.source.exported_at}` : '';
  lines.push(`Import of ${file} (source: ${s.source.type}${s.source.version ? ` ${s.source.version}` : ''}${exported})`);
  lines.push(s.dry_run ? 'DRY RUN: everything was checked and rolled back; nothing was written.' : 'Imported in one transaction.');
  lines.push(`Conflict policy: ${s.conflict}; bindings: ${s.include_bindings ? 'included' : 'not included (--include-bindings)'}`);
  lines.push('');
  const pad = (v: string | number, n: number) => String(v).padStart(n);
  lines.push(`${'entity'.padEnd(20)}${pad('created', 9)}${pad('overwritten', 13)}${pad('skipped', 9)}`);
  for (const kind of ENTITY_KINDS) {
    const c = s.counts[kind];
    lines.push(`${ENTITY_LABELS[kind].padEnd(20)}${pad(c.created, 9)}${pad(c.overwritten, 13)}${pad(c.skipped, 9)}`);
  }
  lines.push('');
  lines.push(`Warnings from the file (${s.file_warnings.length})${s.file_warnings.length ? ':' : ''}`);
  for (const w of s.file_warnings) lines.push(`  - ${w}`);
  lines.push(`Import warnings (${s.warnings.length})${s.warnings.length ? ':' : ''}`);
  for (const w of s.warnings) lines.push(`  - ${w}`);
  lines.push('');
  if (s.dry_run) {
    const created = s.counts.masters.created;
    lines.push(`Master keys: none issued (dry run). A real run issues ${created} new master key(s) and shows them once.`);
  } else if (s.master_keys.length === 0) {
    lines.push('Master keys: none issued (no master was created).');
  } else {
    lines.push('Master keys — shown this once; only their digests are stored, so save them now:');
    const width = Math.max(...s.master_keys.map((m) => `${m.name} (id ${m.id})`.length));
    for (const m of s.master_keys) lines.push(`  ${`${m.name} (id ${m.id})`.padEnd(width)}  ${m.key}`);
  }
  return `${lines.join('\n')}\n`;
}

export function importCommand(argv: string[], io: Io = stdio): Promise<number> {
  return runCommand('import', IMPORT_USAGE, io, async (command) => {
    const args = parseImportArgs(argv);
    // The file is checked before anything connects: a bad file needs no database to be reported.
    const parsed = parseImportFile(await readInputFile(args.file));
    if (!parsed.ok) throw invalidFile(args.file, 'import file', parsed.problems);
    const loaded = loadCommandConfig(DSN_REQUIRED_BY, { secrets: true });
    return command.connect(loaded, { nudge: !args.dryRun, failed: 'failed, nothing was written' }, async ({ deps, finish }) => {
      const summary = await runImport({ ...deps, box: new SecretBox(loaded.master), digester: new KeyDigester(loaded.master) }, parsed.file, {
        dryRun: args.dryRun,
        conflict: args.conflict,
        includeBindings: args.includeBindings,
      });
      return finish(jsonOrText(summary, args.json, (s) => formatImportSummary(args.file, s)));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------------

function parseExportArgs(argv: string[]): { out: string | undefined } {
  const { values } = parseCommandArgs(argv, { options: { out: { type: 'string', short: 'o' } }, allowPositionals: false });
  if (values.out === '') throw new UsageError('--out needs a file name');
  return { out: values.out };
}

export function exportCommand(argv: string[], io: Io = stdio): Promise<number> {
  return runCommand('export', EXPORT_USAGE, io, async (command) => {
    const args = parseExportArgs(argv);
    return command.connect(loadCommandConfig(DSN_REQUIRED_BY, { secrets: true }), {}, async ({ deps, finish }) => {
      const doc = await exportConfiguration(deps.knex, { version: buildInfo.version, now: new Date() });
      if (!args.out) return finish(jsonText(doc));
      // It holds key digests: readable by the owner only.
      await writeFile(args.out, jsonText(doc), { mode: 0o600 });
      const d = doc.data;
      await io.err(
        `ez-api export: wrote ${args.out}: ${d.providers.length} provider(s), ${d.masters.length} master(s), ${d.keys.length} key(s), ${d.bindings.length} binding(s), ${d.models.length} model(s)\n`,
      );
      for (const w of doc.warnings) await io.err(`  - ${w}\n`);
      return 0;
    });
  });
}
