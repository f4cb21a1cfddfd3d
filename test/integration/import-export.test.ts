import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { exportConfiguration, type ExportDocument } from '../../src/domain/import-export/export.service.js';
import { importFileSchema, type ImportFile } from '../../src/domain/import-export/format.js';
import { runImport, type ImportDeps, type ImportOptions, type ImportSummary } from '../../src/domain/import-export/import.service.js';
import { parseImportFile } from '../../src/domain/import-export/plan.js';
import { secretAad } from '../../src/domain/providers.service.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { TEST_SECRET } from '../support/sync.js';

const FIXTURE_TEXT = readFileSync('test/fixtures/import/exporter-v1.json', 'utf8');
const fixture = (): ImportFile => importFileSchema.parse(JSON.parse(FIXTURE_TEXT));
const TOKENS = ['sk-legacy-token-alpha-0001', 'sk-legacy-token-alpha-0002', 'sk-legacy-token-vip-0001', 'sk-legacy-token-orphan'];
const UPSTREAM_SECRETS = ['sk-import-openai-aaaaaaaaaaaaaaaa', 'sk-ant-import-key-one-bbbbbbbbbbbb', 'sk-ant-import-key-two-cccccccccccc', 'nope-nope-nope-nope'];
const TABLES = ['masters', 'keys', 'provider_groups', 'api_keys', 'namespaces', 'bindings', 'audit_events', 'sync_outbox'] as const;

const digester = new KeyDigester(TEST_SECRET);
const box = new SecretBox(TEST_SECRET);

describe('import / export', function () {
  this.timeout(30_000);
  let nudges: number[][];

  beforeEach(async () => {
    await resetDatabase();
    nudges = [];
  });

  const deps = (): ImportDeps => ({
    knex: testEnv().knex,
    nudge: async (ids) => {
      nudges.push(ids);
    },
    box,
    digester,
  });
  const run = (file: ImportFile, options: Partial<ImportOptions> = {}): Promise<ImportSummary> =>
    runImport(deps(), file, { dryRun: false, conflict: 'skip', includeBindings: false, ...options });

  async function tableCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const table of TABLES) out[table] = Number(((await testEnv().knex(table).count('* as n')) as Array<{ n: string }>)[0]!.n);
    return out;
  }

  it('a dry run writes nothing and reports exactly what the real run then does', async function () {
    const before = await tableCounts();
    const dry = await run(fixture(), { dryRun: true, includeBindings: true });
    expect(await tableCounts()).to.deep.equal(before);
    expect(dry.dry_run).to.equal(true);
    expect(dry.master_keys).to.deep.equal([]);
    expect(nudges).to.deep.equal([]);

    const real = await run(fixture(), { includeBindings: true });
    expect(real.counts).to.deep.equal(dry.counts);
    expect(real.warnings).to.deep.equal(dry.warnings);
    expect(real.counts).to.deep.equal({
      provider_groups: { created: 3, skipped: 1, overwritten: 0 },
      api_keys: { created: 4, skipped: 1, overwritten: 0 },
      masters: { created: 2, skipped: 0, overwritten: 0 },
      keys: { created: 3, skipped: 1, overwritten: 0 },
      namespaces: { created: 2, skipped: 0, overwritten: 0 },
      bindings: { created: 2, skipped: 0, overwritten: 0 },
      models: { created: 0, skipped: 0, overwritten: 0 },
    });
    expect(real.file_warnings).to.deep.equal(['channel 99 skipped: unsupported type']);
    expect(nudges).to.have.length(1);
  });

  it('imports masters with fresh master keys, keys by digest, and warns instead of failing', async function () {
    const summary = await run(fixture());
    const { knex } = testEnv();
    expect(summary.warnings.some((w) => /data\.keys\[3\].*master "nobody"/.test(w))).to.equal(true);
    expect(summary.warnings.some((w) => /data\.providers\[3\] "mystery": unsupported provider type "fax-machine"/.test(w))).to.equal(true);

    const masters = (await knex('masters').orderBy('name')) as Array<Record<string, unknown>>;
    expect(masters.map((m) => [m.name, m.group, m.namespaces, m.default_namespace, m.max_child_keys, m.global_qps, m.status])).to.deep.equal([
      ['team-alpha', 'default', ['default', 'research'], 'default', 5, 10, 'active'],
      ['team-vip', 'vip', ['default'], 'default', 10, 3, 'suspended'],
    ]);
    expect(summary.master_keys.map((m) => m.name).sort()).to.deep.equal(['team-alpha', 'team-vip']);
    for (const issued of summary.master_keys) {
      expect(issued.key).to.match(/^ezm_[A-Za-z0-9_-]{43}$/);
      const row = masters.find((m) => m.id === issued.id)!;
      expect(row.key_digest).to.equal(digester.digest(issued.key));
    }

    const keys = (await knex('keys').orderBy('id')) as Array<Record<string, unknown>>;
    expect(keys.map((k) => k.key_digest)).to.deep.equal(TOKENS.slice(0, 3).map((t) => digester.digest(t)));
    expect(keys[0]).to.deep.include({
      issued_by: 'admin',
      issuer_id: 'import',
      status: 'active',
      scopes: ['chat:*'],
      namespaces: ['research'],
      model_limits_enabled: true,
      model_limits: ['gpt-4o'],
      quota_limit: 5000,
      quota_used: 1200,
      key_prefix: 'sk-legac',
      key_last4: '0001',
    });
    expect((keys[0]!.expires_at as Date).toISOString()).to.equal('2030-01-01T00:00:00.000Z');
    expect(keys[1]).to.deep.include({ status: 'disabled', quota_limit: -1, scopes: ['chat:*', 'completions:*'] });

    const namespaces = ((await knex('namespaces').select('name').orderBy('name')) as Array<{ name: string }>).map((n) => n.name);
    expect(namespaces).to.deep.equal(['default', 'research']);

    const audit = (await knex('audit_events').select('actor_type', 'actor_id', 'action')) as Array<{ actor_type: string; actor_id: string; action: string }>;
    expect(audit.every((a) => a.actor_type === 'system' && a.actor_id === 'import')).to.equal(true);
    expect(audit.map((a) => a.action)).to.include.members(['master.create', 'key.create', 'provider_group.create', 'api_key.create', 'namespace.create', 'import.run']);
  });

  it('records the outbox rows docs/control-plane.md asks for', async function () {
    await run(fixture(), { includeBindings: true });
    const { knex } = testEnv();
    const rows = (await knex('sync_outbox').select('resource', 'resource_id', 'action', 'payload').orderBy('id')) as Array<{
      resource: string;
      resource_id: string | null;
      action: string;
      payload: Record<string, unknown>;
    }>;
    const masters = (await knex('masters').select('id').orderBy('id')) as Array<{ id: number }>;
    const keys = (await knex('keys').select('id', 'key_digest').orderBy('id')) as Array<{ id: number; key_digest: string }>;
    expect(rows.map((r) => [r.resource, r.resource_id, r.action, r.payload])).to.have.deep.members([
      ...masters.map((m) => ['master', String(m.id), 'upsert', {}]),
      ...keys.map((k) => ['key', String(k.id), 'upsert', { digest: k.key_digest }]),
      ['routing', null, 'upsert', {}],
    ]);
  });

  it('turns providers into groups: multi-key pairs share one group, extra routing groups get their own', async function () {
    await run(fixture());
    const { knex } = testEnv();
    const groups = (await knex('provider_groups').orderBy('id')) as Array<Record<string, unknown>>;
    expect(groups.map((g) => [g.name, g.type, g.route_group, g.base_url, g.models, g.status])).to.deep.equal([
      ['openai-prod', 'openai', 'default', 'http://127.0.0.1:9/v1', ['gpt-4o', 'gpt-4o-mini'], 'active'],
      ['openai-prod@vip', 'openai', 'vip', 'http://127.0.0.1:9/v1', ['gpt-4o', 'gpt-4o-mini'], 'active'],
      ['claude-pool', 'anthropic', 'default', 'http://127.0.0.1:9', ['claude-sonnet-4-5'], 'active'],
    ]);
    const pool = groups[2]!;
    const apiKeys = (await knex('api_keys').where('group_id', pool.id as number).orderBy('id')) as Array<Record<string, unknown>>;
    expect(apiKeys.map((k) => [k.name, k.status, k.weight, k.auto_ban])).to.deep.equal([
      ['claude-multi', 'active', 1, false],
      ['claude-multi-2', 'disabled', 1, false],
    ]);
    const opened = apiKeys.map((k) =>
      box.open({ ciphertext: k.secret_ciphertext as Buffer, nonce: k.secret_nonce as Buffer, keyVersion: k.key_version as number }, secretAad(k.id as number)),
    );
    expect(opened).to.deep.equal(['sk-ant-import-key-one-bbbbbbbbbbbb', 'sk-ant-import-key-two-cccccccccccc']);
  });

  it('stores no original token and no upstream secret in any column of any table', async function () {
    await run(fixture(), { includeBindings: true });
    const { knex } = testEnv();
    const { rows: tables } = await knex.raw<{ rows: Array<{ tablename: string }> }>(
      `select tablename from pg_tables where schemaname = 'public' and tablename not like 'knex_migrations%'`,
    );
    for (const { tablename } of tables) {
      const { rows } = await knex.raw<{ rows: Array<{ row: string }> }>(`select row_to_json(t)::text as row from "${tablename}" t`);
      for (const { row } of rows) {
        for (const secret of [...TOKENS, ...UPSTREAM_SECRETS]) expect(row, `${tablename} holds a secret`).to.not.include(secret);
      }
    }
  });

  it('imports bindings only when asked, with one exact candidate per group serving the model', async function () {
    await run(fixture());
    const { knex } = testEnv();
    expect(await knex('bindings').count('* as n').first()).to.deep.equal({ n: 0 });
    const summary = await run(fixture(), { includeBindings: true });
    expect(summary.counts.bindings).to.deep.equal({ created: 2, skipped: 0, overwritten: 0 });
    const groupId = async (name: string) => ((await knex('provider_groups').where('name', name).first()) as { id: number }).id;
    const bindings = (await knex('bindings').orderBy('id')) as Array<Record<string, unknown>>;
    expect(bindings.map((b) => [b.namespace, b.public_model, b.route_group, b.status, b.candidates])).to.deep.equal([
      ['research', 'gpt-4o', 'default', 'active', [{ group_id: await groupId('openai-prod'), weight: 1, selector_type: 'exact', selector_value: 'gpt-4o' }]],
      [
        'default',
        'claude-sonnet-4-5',
        'default',
        'active',
        [{ group_id: await groupId('claude-pool'), weight: 1, selector_type: 'exact', selector_value: 'claude-sonnet-4-5' }],
      ],
    ]);
  });

  it('on a second import, skip leaves existing rows alone and overwrite updates them in place', async function () {
    const first = await run(fixture());
    const { knex } = testEnv();
    const alpha = () => knex('masters').where('name', 'team-alpha').first() as Promise<Record<string, unknown>>;
    const before = await alpha();
    const apiKeyIds = ((await knex('api_keys').select('id').orderBy('id')) as Array<{ id: number }>).map((k) => k.id);
    await knex('masters').where('name', 'team-alpha').update({ global_qps: 99 });
    await knex('keys').where('key_digest', digester.digest(TOKENS[0]!)).update({ status: 'disabled', quota_used: 7 });

    const skipped = await run(fixture());
    expect(skipped.counts.masters).to.deep.equal({ created: 0, skipped: 2, overwritten: 0 });
    expect(skipped.counts.keys).to.deep.equal({ created: 0, skipped: 4, overwritten: 0 });
    expect(skipped.counts.provider_groups).to.deep.equal({ created: 0, skipped: 4, overwritten: 0 });
    expect(skipped.master_keys).to.deep.equal([]);
    expect((await alpha()).global_qps).to.equal(99);
    expect(await knex('keys').where('key_digest', digester.digest(TOKENS[0]!)).first()).to.deep.include({ status: 'disabled', quota_used: 7 });

    const overwritten = await run(fixture(), { conflict: 'overwrite' });
    expect(overwritten.counts.masters).to.deep.equal({ created: 0, skipped: 0, overwritten: 2 });
    expect(overwritten.counts.keys).to.deep.equal({ created: 0, skipped: 1, overwritten: 3 });
    expect(overwritten.counts.provider_groups).to.deep.equal({ created: 0, skipped: 1, overwritten: 3 });
    expect(overwritten.counts.api_keys).to.deep.equal({ created: 0, skipped: 1, overwritten: 4 });
    expect(overwritten.master_keys).to.deep.equal([]);
    const after = await alpha();
    expect(after).to.deep.include({ id: before.id, global_qps: 10, key_digest: before.key_digest });
    expect(first.master_keys.find((m) => m.name === 'team-alpha')?.id).to.equal(before.id);
    expect(await knex('keys').where('key_digest', digester.digest(TOKENS[0]!)).first()).to.deep.include({ status: 'active', quota_used: 1200 });
    expect(((await knex('api_keys').select('id').orderBy('id')) as Array<{ id: number }>).map((k) => k.id)).to.deep.equal(apiKeyIds);
    expect(await knex('masters').count('* as n').first()).to.deep.equal({ n: 2 });
  });

  it('export → import into an empty database → export gives the same document, without secrets', async function () {
    await run(fixture(), { includeBindings: true });
    const { knex } = testEnv();
    // The fields added with budgets and prices, set as the API would (non-default values).
    const masterBudgets = { day: { cost_usd: 5.25, requests: 1_000 }, month: { tokens: 9_000_000 } };
    const keyBudgets = { minute: { requests: 30 }, hour: { tokens: 50_000, cost_usd: 0.75 } };
    await knex('masters').where('name', 'team-alpha').update({ quota_limit: 7_000_000, quota_used: 123_456, budgets: masterBudgets });
    await knex('keys').where('key_digest', digester.digest(TOKENS[0]!)).update({ budgets: keyBudgets });
    const claudeKeys = (await knex('api_keys').where('name', 'like', 'claude-multi%').orderBy('id')) as Array<{ id: number }>;
    const refreshSecret = 'rt-oauth-refresh-token-never-exported-0001';
    const sealedRefresh = box.seal(refreshSecret, `api_keys:${claudeKeys[0]!.id}:refresh_token`);
    await knex('api_keys')
      .where('id', claudeKeys[0]!.id)
      .update({
        rate_multiplier: 0.35,
        access_token_expires_at: new Date('2026-12-24T08:30:00Z'),
        account_id: 'acct-1234',
        refresh_token_ciphertext: sealedRefresh.ciphertext,
        refresh_token_nonce: sealedRefresh.nonce,
      });
    await knex('api_keys').where('id', claudeKeys[1]!.id).update({ rate_multiplier: 12.5 });

    const first = await exportConfiguration(knex, { version: '0.1.0', now: new Date('2026-11-02T00:00:00Z') });
    const text = JSON.stringify(first);
    for (const secret of [...TOKENS, ...UPSTREAM_SECRETS, refreshSecret, sealedRefresh.ciphertext.toString('base64')]) expect(text).to.not.include(secret);
    expect(text).to.not.match(/refresh_token/);
    const alphaOut = first.data.masters.find((m) => m.name === 'team-alpha')!;
    expect(alphaOut).to.deep.include({ quota_limit: 7_000_000, quota_used: 123_456, budgets: masterBudgets });
    expect(first.data.masters.find((m) => m.name === 'team-vip')).to.deep.include({ quota_limit: -1, quota_used: 0, budgets: {} });
    expect(first.data.keys.map((k) => k.budgets)).to.deep.equal([keyBudgets, {}, {}]);
    expect(first.data.providers.map((p) => [p.name, p.rate_multiplier, p.access_token_expires_at, p.account_id])).to.deep.equal([
      ['claude-multi', 0.35, '2026-12-24T08:30:00.000Z', 'acct-1234'],
      ['claude-multi-2', 12.5, null, null],
      ['openai-prod', 1, null, null],
      ['openai-prod@vip', 1, null, null],
    ]);
    expect(first.data.providers.every((p) => p.api_key === '')).to.equal(true);
    expect(first.data.keys.every((k) => k.original_token === null && /^[0-9a-f]{64}$/.test(k.key_digest))).to.equal(true);
    expect(first.warnings.some((w) => /upstream secrets are not exported/.test(w))).to.equal(true);
    expect(first.data.providers.map((p) => [p.name, p.original_name ?? null])).to.deep.equal([
      ['claude-multi', 'claude-pool'],
      ['claude-multi-2', 'claude-pool'],
      ['openai-prod', null],
      ['openai-prod@vip', null],
    ]);

    await resetDatabase();
    const parsed = parseImportFile(text);
    expect(parsed.ok, parsed.ok ? '' : parsed.problems.join('\n')).to.equal(true);
    if (!parsed.ok) return;
    const reimport = await run(parsed.file, { includeBindings: true });
    expect(reimport.counts.keys.created).to.equal(3);
    expect(reimport.warnings.filter((w) => /no api_key in the file/.test(w))).to.have.length(4);
    // The same legacy tokens still work: same digests under the same EZ_SECRET.
    const digests = ((await knex('keys').select('key_digest').orderBy('id')) as Array<{ key_digest: string }>).map((k) => k.key_digest);
    expect(digests).to.deep.equal(TOKENS.slice(0, 3).map((t) => digester.digest(t)));

    expect(await knex('masters').where('name', 'team-alpha').first()).to.deep.include({ quota_limit: 7_000_000, quota_used: 123_456, budgets: masterBudgets });
    expect(await knex('keys').where('key_digest', digester.digest(TOKENS[0]!)).first()).to.deep.include({ budgets: keyBudgets });
    const pool = (await knex('api_keys').where('name', 'like', 'claude-multi%').orderBy('name')) as Array<Record<string, unknown>>;
    expect(pool.map((k) => [k.name, k.rate_multiplier, (k.access_token_expires_at as Date | null)?.toISOString() ?? null, k.account_id, k.refresh_token_ciphertext])).to.deep.equal([
      ['claude-multi', 0.35, '2026-12-24T08:30:00.000Z', 'acct-1234', null],
      ['claude-multi-2', 12.5, null, null, null],
    ]);

    const second = await exportConfiguration(knex, { version: '0.1.0', now: new Date('2026-11-03T00:00:00Z') });
    const withoutTime = (doc: ExportDocument) => ({ ...doc, source: { ...doc.source, exported_at: '' } });
    expect(withoutTime(second)).to.deep.equal(withoutTime(first));
  });
});
