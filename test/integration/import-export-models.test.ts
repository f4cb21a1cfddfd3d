import { expect } from 'chai';
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { exportConfiguration, type ExportDocument } from '../../src/domain/import-export/export.service.js';
import { EXPORT_FORMAT_VERSION, type ImportFile } from '../../src/domain/import-export/format.js';
import { runImport, type ImportDeps, type ImportOptions, type ImportSummary } from '../../src/domain/import-export/import.service.js';
import { parseImportFile } from '../../src/domain/import-export/plan.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { syncNow, TEST_SECRET } from '../support/sync.js';

/**
 * The model registry in export/import files (format 1.1.0), overwrite that keeps what an older or
 * partial file leaves out, and an overwrite that narrows a master's namespaces narrowing its keys
 * down to the gateway's token records (docs/import-export.md).
 */

const FIXTURE_TEXT = readFileSync('test/fixtures/import/exporter-v1.json', 'utf8');
type Json = Record<string, unknown>;

const digester = new KeyDigester(TEST_SECRET);
const box = new SecretBox(TEST_SECRET);

function parse(json: unknown): ImportFile {
  const parsed = parseImportFile(JSON.stringify(json));
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.file;
}

/** Registry rows as the API would leave them: one loaded from a default table, one an admin priced. */
const MODEL_ROWS = [
  {
    name: 'gpt-4o',
    kind: 'chat',
    context_window: 128_000,
    max_output_tokens: 16_384,
    supports_stream: true,
    supports_vision: true,
    supports_functions: true,
    supports_tool_choice: true,
    supports_fim: false,
    price_input: 2.5,
    price_output: 10,
    price_cache_read: 1.25,
    price_cache_write: 0,
    price_per_request: 0,
    price_source: 'default:2026-12-01',
  },
  {
    name: 'house-embedder',
    kind: 'embedding',
    context_window: null,
    max_output_tokens: null,
    supports_stream: false,
    supports_vision: false,
    supports_functions: false,
    supports_tool_choice: false,
    supports_fim: false,
    price_input: 0.013,
    price_output: 0,
    price_cache_read: 0,
    price_cache_write: 0.5,
    price_per_request: 0.0004,
    price_source: 'admin',
  },
];

const MODEL_COLUMNS = Object.keys(MODEL_ROWS[0]!);

describe('import / export: model registry, partial overwrite, narrowing', function () {
  this.timeout(30_000);
  let redis: Redis;

  before(() => {
    redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1 });
  });
  after(() => redis.disconnect());

  beforeEach(async () => {
    await resetDatabase();
    // PostgreSQL restarted its ids and sync versions; Redis must forget them too.
    await redis.flushall();
  });

  const deps = (): ImportDeps => ({ knex: testEnv().knex, nudge: async () => {}, box, digester });
  const run = (file: ImportFile, options: Partial<ImportOptions> = {}): Promise<ImportSummary> =>
    runImport(deps(), file, { dryRun: false, conflict: 'skip', includeBindings: false, ...options });
  const knex = () => testEnv().knex;
  const models = async () => (await knex()('models').select(MODEL_COLUMNS).orderBy('name')) as Json[];
  const doExport = (day: string) => exportConfiguration(knex(), { version: '0.1.0', now: new Date(`2026-11-${day}T00:00:00Z`) });

  describe('model registry', () => {
    it('export → wipe → import reproduces the models with their prices and price_source', async () => {
      await run(parse(JSON.parse(FIXTURE_TEXT)));
      await knex()('models').insert(MODEL_ROWS);
      const first = await doExport('02');
      expect(first.version).to.equal(EXPORT_FORMAT_VERSION);
      expect(first.data.models).to.deep.equal(MODEL_ROWS);

      await resetDatabase();
      const dry = await run(parse(first), { dryRun: true });
      expect(dry.counts.models).to.deep.equal({ created: 2, overwritten: 0, skipped: 0 });
      expect(await models()).to.deep.equal([]);
      const summary = await run(parse(first));
      expect(summary.counts.models).to.deep.equal({ created: 2, overwritten: 0, skipped: 0 });
      expect(await models()).to.deep.equal(MODEL_ROWS);
      // The registry feeds meta:models: the import records the routing outbox row.
      expect(await knex()('sync_outbox').where({ resource: 'routing' }).count('* as n').first()).to.deep.equal({ n: 1 });
      const audit = (await knex()('audit_events').where('action', 'model.create').select('metadata')) as Array<{ metadata: Json }>;
      expect(audit.map((a) => a.metadata.price_source).sort()).to.deep.equal(['admin', 'default:2026-12-01']);

      const withoutTime = (doc: ExportDocument) => ({ ...doc, source: { ...doc.source, exported_at: '' } });
      expect(withoutTime(await doExport('03'))).to.deep.equal(withoutTime(first));
    });

    it('skip leaves an existing model alone; overwrite writes only the fields given, keeping the file price_source', async () => {
      await knex()('models').insert(MODEL_ROWS);
      const file = (entries: Json[]) => parse({ version: '1.1.0', source: { type: 'ez-api' }, data: { models: entries } });

      const skipped = await run(file([{ name: 'gpt-4o', price_input: 99 }, { name: 'new-model', price_output: 3, price_source: 'default:2027-01-01' }]));
      expect(skipped.counts.models).to.deep.equal({ created: 1, overwritten: 0, skipped: 1 });
      expect(await knex()('models').where('name', 'gpt-4o').first()).to.deep.include({ price_input: 2.5 });
      expect(await knex()('models').where('name', 'new-model').first()).to.deep.include({
        price_output: 3,
        price_input: 0,
        kind: 'chat',
        supports_stream: true,
        price_source: 'default:2027-01-01',
      });

      const overwritten = await run(
        file([
          { name: 'gpt-4o', price_input: 3, price_source: 'default:2027-01-01' },
          // Prices without a price_source are an admin's, as through /admin/models.
          { name: 'house-embedder', price_output: 0.1 },
        ]),
        { conflict: 'overwrite' },
      );
      expect(overwritten.counts.models).to.deep.equal({ created: 0, overwritten: 2, skipped: 0 });
      const [gpt, embedder] = await models();
      expect(gpt).to.deep.equal({ ...MODEL_ROWS[0], price_input: 3, price_source: 'default:2027-01-01' });
      expect(embedder).to.deep.equal({ ...MODEL_ROWS[1], price_output: 0.1, price_source: 'admin' });
    });

    it('rejects bad model entries by JSON path', () => {
      const parsed = parseImportFile(
        JSON.stringify({
          version: '1.1.0',
          source: { type: 'ez-api' },
          data: { models: [{ name: ' ', price_input: -1 }, { name: 'm', kind: 'vision', price_source: 'scraped', context_window: 0 }] },
        }),
      );
      expect(parsed.ok).to.equal(false);
      if (parsed.ok) return;
      expect(parsed.problems.map((p) => p.slice(0, p.indexOf(': ')))).to.have.members([
        'data.models[0].name',
        'data.models[0].price_input',
        'data.models[1].kind',
        'data.models[1].price_source',
        'data.models[1].context_window',
      ]);
    });
  });

  it('an old-format file (no models, no quota fields) overwrites only what it gives', async () => {
    await run(parse(JSON.parse(FIXTURE_TEXT)));
    await knex()('models').insert(MODEL_ROWS);
    const masterBudgets = { day: { cost_usd: 4 } };
    const keyBudgets = { hour: { requests: 7 } };
    const expiry = new Date('2027-03-01T12:00:00Z');
    // What an admin changed since: fields the 1.0.0 fixture does not carry, and one it does.
    await knex()('masters').where('name', 'team-alpha').update({ quota_limit: 8_000_000, quota_used: 4_444, budgets: masterBudgets, global_qps: 99 });
    await knex()('masters').where('name', 'team-vip').update({ namespaces: ['default', 'vip-lab'], max_child_keys: 50 });
    const vipDigest = digester.digest('sk-legacy-token-vip-0001');
    await knex()('keys').where('key_digest', vipDigest).update({ quota_limit: 3_000, quota_used: 12, budgets: keyBudgets, rpm_limit: 60, scopes: ['chat:*'] });
    await knex()('api_keys').where('name', 'claude-multi').update({ rate_multiplier: 0.4, access_token_expires_at: expiry, account_id: 'acct-9' });

    const summary = await run(parse(JSON.parse(FIXTURE_TEXT)), { conflict: 'overwrite' });
    expect(summary.counts.masters.overwritten).to.equal(2);
    expect(summary.counts.models).to.deep.equal({ created: 0, overwritten: 0, skipped: 0 });

    // Kept: absent from the file.
    expect(await knex()('masters').where('name', 'team-alpha').first()).to.deep.include({ quota_limit: 8_000_000, quota_used: 4_444, budgets: masterBudgets });
    expect(await knex()('masters').where('name', 'team-vip').first()).to.deep.include({ namespaces: ['default', 'vip-lab'], max_child_keys: 50, status: 'suspended' });
    expect(await knex()('keys').where('key_digest', vipDigest).first()).to.deep.include({ quota_limit: 3_000, quota_used: 12, budgets: keyBudgets, rpm_limit: 60, scopes: ['chat:*'] });
    const claude = (await knex()('api_keys').where('name', 'claude-multi').first()) as Json;
    expect(claude).to.deep.include({ rate_multiplier: 0.4, account_id: 'acct-9' });
    expect((claude.access_token_expires_at as Date).toISOString()).to.equal(expiry.toISOString());
    expect(await models()).to.deep.equal(MODEL_ROWS);
    // Overwritten: given by the file.
    expect(await knex()('masters').where('name', 'team-alpha').first()).to.deep.include({ global_qps: 10 });
  });

  it('an overwrite that narrows a master narrows its keys, down to their token records in Redis', async () => {
    const token = (n: number) => `sk-narrow-test-token-${n}-0000000000`;
    const file = (masterNamespaces: string[], keys: Json[]) =>
      parse({
        version: '1.0.0',
        source: { type: 'test' },
        data: { masters: [{ name: 'lab-team', namespaces: masterNamespaces, default_namespace: 'default' }], keys },
      });
    await run(
      file(
        ['default', 'research', 'lab'],
        [
          { master_ref: 'lab-team', original_token: token(1), namespaces: ['research'], default_namespace: 'research' },
          { master_ref: 'lab-team', original_token: token(2), namespaces: ['research', 'default'], default_namespace: 'research' },
          { master_ref: 'lab-team', original_token: token(3) },
        ],
      ),
    );
    await syncNow(redis);
    const record = (n: number) => redis.hgetall(RedisKeys.token(digester.digest(token(n))));
    expect((await record(1)).namespaces).to.equal('["research"]');

    // The file narrows the master and names none of its keys.
    const narrowing = file(['default', 'lab'], []);
    const dry = await run(narrowing, { conflict: 'overwrite', dryRun: true });
    const summary = await run(narrowing, { conflict: 'overwrite' });
    expect(summary.warnings).to.deep.equal(dry.warnings);
    const ids = ((await knex()('keys').select('id').orderBy('id')) as Array<{ id: number }>).map((k) => k.id);
    expect(summary.warnings).to.include.members([
      `master "lab-team": 1 of its keys narrowed to its namespaces (default, lab): key ids ${ids[1]}`,
      `master "lab-team": keys ${ids[0]} kept none of their namespaces; narrowed to the master's default namespace "default"`,
    ]);

    const rows = (await knex()('keys').select('namespaces', 'default_namespace').orderBy('id')) as Json[];
    expect(rows).to.deep.equal([
      { namespaces: ['default'], default_namespace: 'default' },
      { namespaces: ['default'], default_namespace: 'default' },
      { namespaces: [], default_namespace: null },
    ]);
    const audit = (await knex()('audit_events').where('action', 'key.access.update').select('object_id')) as Array<{ object_id: string }>;
    expect(audit.map((a) => Number(a.object_id)).sort((a, b) => a - b)).to.deep.equal([ids[0], ids[1]]);

    await syncNow(redis);
    expect(await record(1)).to.deep.include({ namespaces: '["default"]', default_namespace: 'default' });
    expect(await record(2)).to.deep.include({ namespaces: '["default"]', default_namespace: 'default' });
    expect(await record(3)).to.deep.include({ namespaces: '[]', default_namespace: '' });
    const masterId = ((await knex()('masters').where('name', 'lab-team').first()) as { id: number }).id;
    expect((await redis.hgetall(RedisKeys.master(masterId))).namespaces).to.equal('["default","lab"]');
  });
});
