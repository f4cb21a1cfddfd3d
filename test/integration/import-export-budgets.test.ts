import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { importFileSchema, type ImportFile } from '../../src/domain/import-export/format.js';
import { runImport, type ImportDeps, type ImportOptions, type ImportSummary } from '../../src/domain/import-export/import.service.js';
import { parseImportFile } from '../../src/domain/import-export/plan.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { TEST_SECRET } from '../support/sync.js';

/**
 * The fields added with budgets and prices (quota and budgets of masters, budgets of keys, rate
 * multiplier and OAuth state of upstream keys) in import files: defaults for old files, written
 * when given, overwritten in place, and validated with the API's schemas (docs/import-export.md).
 */

const FIXTURE_TEXT = readFileSync('test/fixtures/import/exporter-v1.json', 'utf8');
type Json = Record<string, unknown>;
/** The fixture as raw JSON, to add fields to before parsing. */
const rawFixture = (): { data: { providers: Json[]; masters: Json[]; keys: Json[] } } & Json => JSON.parse(FIXTURE_TEXT) as never;
const TOKEN_ALPHA = 'sk-legacy-token-alpha-0001';

const digester = new KeyDigester(TEST_SECRET);
const box = new SecretBox(TEST_SECRET);

const MASTER_BUDGETS = { day: { cost_usd: 12.5 }, minute: { requests: 60, tokens: 200_000 } };
const KEY_BUDGETS = { month: { cost_usd: 100, requests: 50_000 } };

/** The fixture with every new field set on its first master, first key and first two providers. */
function withNewFields(overrides: { multiplier?: number; accountId?: string } = {}): Json {
  const raw = rawFixture();
  Object.assign(raw.data.masters[0]!, { quota_limit: 9_000_000, quota_used: 4_321, budgets: MASTER_BUDGETS });
  Object.assign(raw.data.keys[0]!, { budgets: KEY_BUDGETS });
  Object.assign(raw.data.providers[0]!, { rate_multiplier: overrides.multiplier ?? 0.8 });
  Object.assign(raw.data.providers[1]!, {
    rate_multiplier: 0,
    access_token_expires_at: '2026-12-31T23:00:00+01:00',
    account_id: overrides.accountId ?? 'acct-claude-1',
  });
  return raw;
}

function parse(json: unknown): ImportFile {
  const parsed = parseImportFile(JSON.stringify(json));
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.file;
}

describe('import / export: quotas, budgets, rate multipliers', function () {
  this.timeout(30_000);

  beforeEach(async () => {
    await resetDatabase();
  });

  const deps = (): ImportDeps => ({ knex: testEnv().knex, nudge: async () => {}, box, digester });
  const run = (file: ImportFile, options: Partial<ImportOptions> = {}): Promise<ImportSummary> =>
    runImport(deps(), file, { dryRun: false, conflict: 'skip', includeBindings: false, ...options });

  const master = (name: string) => testEnv().knex('masters').where('name', name).first() as Promise<Json>;
  const alphaKey = () => testEnv().knex('keys').where('key_digest', digester.digest(TOKEN_ALPHA)).first() as Promise<Json>;
  const apiKey = (name: string) => testEnv().knex('api_keys').where('name', name).first() as Promise<Json>;

  it('an old file without the new fields gets the column defaults', async function () {
    await run(importFileSchema.parse(JSON.parse(FIXTURE_TEXT)));
    for (const name of ['team-alpha', 'team-vip']) expect(await master(name)).to.deep.include({ quota_limit: -1, quota_used: 0, budgets: {} });
    expect(await alphaKey()).to.deep.include({ budgets: {} });
    for (const name of ['openai-prod', 'claude-multi', 'claude-multi-2']) {
      expect(await apiKey(name)).to.deep.include({ rate_multiplier: 1, access_token_expires_at: null, account_id: null });
    }
  });

  it('writes the new fields when given, and overwrites them in place', async function () {
    await run(parse(withNewFields()));
    expect(await master('team-alpha')).to.deep.include({ quota_limit: 9_000_000, quota_used: 4_321, budgets: MASTER_BUDGETS });
    expect(await master('team-vip')).to.deep.include({ quota_limit: -1, quota_used: 0, budgets: {} });
    expect(await alphaKey()).to.deep.include({ budgets: KEY_BUDGETS });
    expect(await apiKey('openai-prod')).to.deep.include({ rate_multiplier: 0.8, access_token_expires_at: null, account_id: null });
    const claude = await apiKey('claude-multi');
    expect(claude).to.deep.include({ rate_multiplier: 0, account_id: 'acct-claude-1', refresh_token_ciphertext: null });
    expect((claude.access_token_expires_at as Date).toISOString()).to.equal('2026-12-31T22:00:00.000Z');

    // Overwrite: given values replace the stored ones; OAuth fields the file leaves out are kept.
    await testEnv().knex('masters').where('name', 'team-alpha').update({ quota_used: 5_000 });
    const second = withNewFields({ multiplier: 2.5, accountId: 'acct-claude-2' }) as ReturnType<typeof rawFixture>;
    delete second.data.providers[1]!.access_token_expires_at;
    Object.assign(second.data.masters[0]!, { quota_limit: 10_000_000, budgets: { hour: { requests: 5 } } });
    Object.assign(second.data.keys[0]!, { budgets: {} });
    const summary = await run(parse(second), { conflict: 'overwrite' });
    expect(summary.counts.masters.overwritten).to.equal(2);
    expect(await master('team-alpha')).to.deep.include({ quota_limit: 10_000_000, quota_used: 4_321, budgets: { hour: { requests: 5 } } });
    expect(await alphaKey()).to.deep.include({ budgets: {} });
    expect(await apiKey('openai-prod')).to.deep.include({ rate_multiplier: 2.5 });
    const claudeAfter = await apiKey('claude-multi');
    expect(claudeAfter).to.deep.include({ id: claude.id, account_id: 'acct-claude-2' });
    expect((claudeAfter.access_token_expires_at as Date).toISOString()).to.equal('2026-12-31T22:00:00.000Z');
  });

  it('a dry run reports the same as the real run and writes none of the new fields', async function () {
    const file = parse(withNewFields());
    const dry = await run(file, { dryRun: true });
    expect(await testEnv().knex('masters').count('* as n').first()).to.deep.equal({ n: 0 });
    const real = await run(file);
    expect(real.counts).to.deep.equal(dry.counts);
    expect(real.warnings).to.deep.equal(dry.warnings);
  });

  it('rejects invalid values with their JSON path, before anything is written', function () {
    const raw = rawFixture();
    Object.assign(raw.data.keys[0]!, { budgets: { day: { requests: -5 } } });
    Object.assign(raw.data.keys[1]!, { budgets: 'lots' });
    Object.assign(raw.data.masters[0]!, { budgets: { week: { requests: 10 } }, quota_used: -1 });
    Object.assign(raw.data.masters[1]!, { quota_limit: -2, budgets: { day: { cost_usd: 1, spend: 3 } } });
    Object.assign(raw.data.providers[0]!, { rate_multiplier: 1_001 });
    Object.assign(raw.data.providers[1]!, { rate_multiplier: -0.1, access_token_expires_at: 'tomorrow', account_id: '' });
    const parsed = parseImportFile(JSON.stringify(raw));
    expect(parsed.ok).to.equal(false);
    if (parsed.ok) return;
    const paths = parsed.problems.map((p) => p.slice(0, p.indexOf(': ')));
    expect(paths).to.have.members([
      'data.keys[0].budgets.day.requests',
      'data.keys[1].budgets',
      'data.masters[0].budgets',
      'data.masters[0].quota_used',
      'data.masters[1].quota_limit',
      'data.masters[1].budgets.day',
      'data.providers[0].rate_multiplier',
      'data.providers[1].rate_multiplier',
      'data.providers[1].access_token_expires_at',
      'data.providers[1].account_id',
    ]);
    const problem = (path: string) => parsed.problems.find((p) => p.startsWith(`${path}: `))!;
    expect(problem('data.keys[0].budgets.day.requests')).to.match(/>0|too small/i);
    expect(problem('data.masters[0].budgets')).to.match(/unrecognized key.*"week"/i);
    expect(problem('data.masters[1].budgets.day')).to.match(/unrecognized key.*"spend"/i);
    expect(problem('data.providers[0].rate_multiplier')).to.match(/<=1000|too big/i);
  });
});
