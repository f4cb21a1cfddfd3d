import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { importFileSchema, type ImportFile } from '../../src/domain/import-export/format.js';
import {
  formatIssuePath,
  parseImportFile,
  planImport,
  type EntityKind,
  type ExistingState,
  type ImportPlan,
  type PlanOptions,
  type TokenIdentity,
} from '../../src/domain/import-export/plan.js';

const FIXTURE_TEXT = readFileSync('test/fixtures/import/exporter-v1.json', 'utf8');

/** A fresh parsed copy of the fixture, optionally edited (raw JSON, before schema defaults). */
function fixture(edit?: (raw: { data: Record<string, Array<Record<string, unknown>>> }) => void): ImportFile {
  const raw = JSON.parse(FIXTURE_TEXT) as { data: Record<string, Array<Record<string, unknown>>> };
  edit?.(raw);
  return importFileSchema.parse(raw);
}

/** A stand-in digester: deterministic and obviously not the token. */
const describeToken = (t: string): TokenIdentity => ({ digest: `digest(${t.length}:${[...t].reverse().join('')})`, prefix: t.slice(0, 8), last4: t.slice(-4) });

const NOTHING: ExistingState = { groups: [], masters: [], keys: [], namespaces: [], bindings: [], models: [] };

/** A stored master as loadImportState reads it (the stored values an overwrite keeps). */
const storedMaster = (id: number, name: string, fields: Partial<ExistingState['masters'][number]> = {}): ExistingState['masters'][number] => ({
  id,
  name,
  group: 'default',
  namespaces: ['default'],
  default_namespace: 'default',
  max_child_keys: 10,
  global_qps: 3,
  status: 'active',
  quota_limit: -1,
  quota_used: 0,
  budgets: {},
  ...fields,
});

/** Everything the fixture maps to, as if a previous import had written it. */
const EVERYTHING: ExistingState = {
  groups: [
    { id: 1, name: 'openai-prod', route_group: 'default', models: ['gpt-4o', 'gpt-4o-mini'], apiKeys: [{ id: 11, name: 'openai-prod' }] },
    { id: 2, name: 'openai-prod@vip', route_group: 'vip', models: ['gpt-4o', 'gpt-4o-mini'], apiKeys: [{ id: 12, name: 'openai-prod' }] },
    { id: 3, name: 'claude-pool', route_group: 'default', models: ['claude-sonnet-4-5'], apiKeys: [{ id: 13, name: 'claude-multi' }, { id: 99, name: 'hand-made' }] },
  ],
  masters: [storedMaster(1, 'team-alpha', { namespaces: ['default', 'research'] }), storedMaster(2, 'team-vip', { group: 'vip' })],
  keys: [
    { id: 1, master_id: 1, digest: describeToken('sk-legacy-token-alpha-0001').digest },
    { id: 2, master_id: 1, digest: describeToken('sk-legacy-token-alpha-0002').digest },
    { id: 3, master_id: 2, digest: describeToken('sk-legacy-token-vip-0001').digest },
  ],
  namespaces: ['default', 'research'],
  bindings: [{ id: 5, namespace: 'research', public_model: 'gpt-4o', route_group: 'default', status: 'active' }],
  models: [],
};

const SKIP: PlanOptions = { conflict: 'skip', includeBindings: false };

function plan(file: ImportFile, existing: ExistingState = NOTHING, options: Partial<PlanOptions> = {}): ImportPlan {
  return planImport({ file, existing, options: { ...SKIP, ...options }, describeToken });
}

type Counts = Partial<Record<EntityKind, [created: number, overwritten: number, skipped: number]>>;

function countsOf(p: ImportPlan): Counts {
  return Object.fromEntries(Object.entries(p.counts).map(([k, c]) => [k, [c.created, c.overwritten, c.skipped]])) as Counts;
}

describe('planImport', function () {
  const rows: Array<{
    name: string;
    file?: ImportFile;
    existing?: ExistingState;
    options?: Partial<PlanOptions>;
    counts?: Counts;
    warnings?: RegExp[];
    check?: (p: ImportPlan) => void;
  }> = [
    {
      name: 'maps the sample file into an empty database',
      counts: {
        provider_groups: [3, 0, 1],
        api_keys: [4, 0, 1],
        masters: [2, 0, 0],
        keys: [3, 0, 1],
        namespaces: [2, 0, 0],
        bindings: [0, 0, 2],
      },
      warnings: [/data\.providers\[3\] "mystery": unsupported provider type "fax-machine"/, /data\.keys\[3\] \(master "nobody"\): master "nobody" is not imported/, /2 binding\(s\).*--include-bindings/],
      check: (p) => {
        expect(p.groups.map((g) => [g.values.name, g.values.route_group, g.values.type])).to.deep.equal([
          ['openai-prod', 'default', 'openai'],
          ['openai-prod@vip', 'vip', 'openai'],
          ['claude-pool', 'default', 'anthropic'],
        ]);
        expect(p.namespaces).to.deep.equal([
          { action: 'create', name: 'default' },
          { action: 'create', name: 'research' },
        ]);
      },
    },
    {
      name: 'groups multi-key providers by original_name, one api key per entry in multi_key_index order',
      file: fixture((raw) => raw.data.providers!.reverse()),
      check: (p) => {
        const pool = p.groups.find((g) => g.values.name === 'claude-pool')!;
        expect(pool.apiKeys.map((k) => [k.name, k.values.status, k.values.weight, k.values.auto_ban])).to.deep.equal([
          ['claude-multi', 'active', 1, false],
          ['claude-multi-2', 'disabled', 1, false],
        ]);
        expect(pool.values.status).to.equal('active');
        expect(pool.values.base_url).to.equal('http://127.0.0.1:9');
      },
    },
    {
      name: 'gives each extra all_groups entry its own <name>@<group> group with the same key',
      check: (p) => {
        const vip = p.groups.find((g) => g.values.name === 'openai-prod@vip')!;
        expect(vip.values.models).to.deep.equal(['gpt-4o', 'gpt-4o-mini']);
        expect(vip.apiKeys.map((k) => [k.name, k.secret, k.values.weight])).to.deep.equal([['openai-prod', 'sk-import-openai-aaaaaaaaaaaaaaaa', 3]]);
      },
    },
    {
      name: 'skips a provider whose base_url is refused, with a warning',
      file: fixture((raw) => (raw.data.providers![0]!.base_url = 'http://169.254.169.254/latest')),
      counts: { provider_groups: [1, 0, 2], api_keys: [2, 0, 2] },
      warnings: [/data\.providers\[0\] "openai-prod": base_url points at a cloud metadata endpoint/],
    },
    {
      name: 'skips a provider missing the base_url its type requires',
      file: fixture((raw) => delete raw.data.providers![0]!.base_url),
      warnings: [/data\.providers\[0\] "openai-prod": base_url is required for type "openai"; skipped/],
    },
    {
      name: 'imports a provider without api_key without a secret, and says so',
      file: fixture((raw) => (raw.data.providers![0]!.api_key = '')),
      counts: { api_keys: [4, 0, 1] },
      warnings: [/data\.providers\[0\] "openai-prod": no api_key in the file/],
      check: (p) => expect(p.groups[0]!.apiKeys[0]!.secret).to.equal(null),
    },
    {
      name: 'leaves everything untouched under --conflict skip',
      existing: EVERYTHING,
      options: { includeBindings: true },
      counts: {
        provider_groups: [0, 0, 4],
        api_keys: [0, 0, 5],
        masters: [0, 0, 2],
        keys: [0, 0, 4],
        namespaces: [0, 0, 1],
        bindings: [1, 0, 1],
      },
      check: (p) => {
        expect(p.keys).to.deep.equal([]);
        expect(p.groups.every((g) => g.action === 'skip')).to.equal(true);
        // A binding still gets candidates from existing groups.
        expect(p.bindings.find((b) => b.action === 'create')?.candidateGroups).to.deep.equal(['claude-pool']);
      },
    },
    {
      name: 'updates in place under --conflict overwrite, matching api keys by name',
      existing: EVERYTHING,
      options: { conflict: 'overwrite', includeBindings: true },
      counts: {
        provider_groups: [0, 3, 1],
        api_keys: [1, 3, 1],
        masters: [0, 2, 0],
        keys: [0, 3, 1],
        namespaces: [0, 0, 2],
        bindings: [1, 1, 0],
      },
      check: (p) => {
        expect(p.groups.map((g) => [g.action, g.existingId])).to.deep.equal([
          ['overwrite', 1],
          ['overwrite', 2],
          ['overwrite', 3],
        ]);
        expect(p.groups[2]!.apiKeys.map((k) => [k.action, k.existingId])).to.deep.equal([
          ['overwrite', 13],
          ['create', undefined],
        ]);
        expect(p.masters.map((m) => [m.action, m.existingId])).to.deep.equal([
          ['overwrite', 1],
          ['overwrite', 2],
        ]);
        expect(p.keys.map((k) => [k.action, k.existingId, k.master])).to.deep.equal([
          ['overwrite', 1, 'team-alpha'],
          ['overwrite', 2, 'team-alpha'],
          ['overwrite', 3, 'team-vip'],
        ]);
      },
    },
    {
      name: 'plans an overwrite of only the fields the file gives (absent is not default)',
      file: fixture((raw) => {
        delete raw.data.providers![0]!.weight;
        delete raw.data.providers![0]!.primary_group;
        delete raw.data.bindings![0]!.status;
      }),
      existing: { ...EVERYTHING, groups: EVERYTHING.groups.map((g) => (g.name === 'openai-prod' ? { ...g, route_group: 'gold' } : g)) },
      options: { conflict: 'overwrite', includeBindings: true },
      check: (p) => {
        const vip = p.masters.find((m) => m.values.name === 'team-vip')!;
        expect(vip.changes).to.deep.equal({ group: 'vip', status: 'suspended' });
        expect(vip.values).to.deep.include({ max_child_keys: 10, quota_limit: -1, namespaces: ['default'] });
        expect(p.keys.find((k) => k.master === 'team-vip')!.values).to.deep.equal({});
        const openai = p.groups.find((g) => g.values.name === 'openai-prod')!;
        expect(openai.values.route_group).to.equal('gold');
        expect(openai.changes).to.not.have.property('route_group');
        expect(openai.apiKeys[0]!.values).to.deep.equal({ status: 'active', auto_ban: true });
        expect(p.bindings.find((b) => b.public_model === 'gpt-4o')).to.not.have.property('status');
      },
    },
    {
      name: 'skips new keys of a master left untouched by --conflict skip',
      existing: { ...EVERYTHING, keys: [] },
      counts: { masters: [0, 0, 2], keys: [0, 0, 4] },
      warnings: [/data\.keys\[0\] \(master "team-alpha"\): master "team-alpha" already exists and --conflict skip/],
    },
    {
      name: 'never moves an existing key to another master',
      existing: { ...NOTHING, keys: [{ id: 7, master_id: 42, digest: describeToken('sk-legacy-token-vip-0001').digest }] },
      options: { conflict: 'overwrite' },
      counts: { keys: [2, 0, 2] },
      warnings: [/data\.keys\[2\].*already exists under another master \(id 42\)/],
    },
    {
      name: 'maps key fields: unlimited_quota, default scopes, copied limits',
      check: (p) => {
        const [first, second, third] = p.keys;
        expect(first!.values).to.deep.include({
          status: 'active',
          scopes: ['chat:*'],
          namespaces: ['research'],
          model_limits_enabled: true,
          model_limits: ['gpt-4o'],
          allow_ips: ['10.0.0.0/8'],
          quota_limit: 5000,
          quota_used: 1200,
        });
        expect(first!.values.expires_at?.toISOString()).to.equal('2030-01-01T00:00:00.000Z');
        expect(second!.values).to.deep.include({ status: 'disabled', quota_limit: -1, scopes: ['chat:*', 'completions:*'] });
        expect(third!.master).to.equal('team-vip');
        expect(first!.identity).to.deep.equal(describeToken('sk-legacy-token-alpha-0001'));
      },
    },
    {
      name: 'identifies a key by the key_digest extension when original_token is empty',
      file: fixture((raw) => Object.assign(raw.data.keys![0]!, { original_token: null, key_digest: 'a'.repeat(64), key_prefix: 'ezk_AbCd', key_last4: 'wxyz' })),
      check: (p) => expect(p.keys[0]!.identity).to.deep.equal({ digest: 'a'.repeat(64), prefix: 'ezk_AbCd', last4: 'wxyz' }),
    },
    {
      name: 'skips a key with neither original_token nor key_digest',
      file: fixture((raw) => (raw.data.keys![1]!.original_token = null)),
      counts: { keys: [2, 0, 2] },
      warnings: [/data\.keys\[1\].*neither original_token nor key_digest/],
    },
    {
      name: 'skips a key whose allow_ips has a bad entry instead of widening it',
      file: fixture((raw) => (raw.data.keys![0]!.allow_ips = ['10.0.0.0/8', '10.0.0.1/8'])),
      counts: { keys: [2, 0, 2] },
      warnings: [/data\.keys\[0\].*allow_ips "10\.0\.0\.1\/8" has host bits set; did you mean 10\.0\.0\.0\/8.*key skipped/],
    },
    {
      name: "drops key namespaces outside the master's",
      file: fixture((raw) => (raw.data.keys![0]!.namespaces = ['research', 'secret-lab'])),
      warnings: [/data\.keys\[0\].*namespaces secret-lab are not among master "team-alpha"'s/],
      check: (p) => expect(p.keys[0]!.values.namespaces).to.deep.equal(['research']),
    },
    {
      name: "narrows a key whose namespaces all lie outside the master's to its default namespace, never widens it",
      file: fixture((raw) => (raw.data.keys![0]!.namespaces = ['secret-lab'])),
      warnings: [/data\.keys\[0\].*namespaces secret-lab are not among master "team-alpha"'s; dropped from the key; the key keeps only the master's default namespace "default"/],
      check: (p) => expect(p.keys[0]!.values.namespaces).to.deep.equal(['default']),
    },
    {
      name: 'skips a duplicate key in the file',
      file: fixture((raw) => raw.data.keys!.push({ ...raw.data.keys![0]! })),
      counts: { keys: [3, 0, 2] },
      warnings: [/data\.keys\[4\].*appears earlier in the file/],
    },
    {
      name: 'imports bindings with exact candidates from the groups of their route group listing the model',
      options: { includeBindings: true },
      counts: { bindings: [2, 0, 0] },
      check: (p) =>
        expect(p.bindings.map((b) => [b.namespace, b.public_model, b.route_group, b.candidateGroups])).to.deep.equal([
          ['research', 'gpt-4o', 'default', ['openai-prod']],
          ['default', 'claude-sonnet-4-5', 'default', ['claude-pool']],
        ]),
    },
    {
      name: 'does not create a binding no group can serve',
      file: fixture((raw) => raw.data.bindings!.push({ namespace: 'research', route_group: 'vip', model: 'claude-sonnet-4-5' })),
      options: { includeBindings: true },
      counts: { bindings: [2, 0, 1] },
      warnings: [/data\.bindings\[2\] "research\.claude-sonnet-4-5": no provider group in route group "vip" lists model "claude-sonnet-4-5"/],
    },
    {
      name: 'creates the namespaces referenced by masters, keys and bindings only',
      file: fixture((raw) => {
        raw.data.masters![1]!.namespaces = ['vip-lab'];
        raw.data.bindings!.push({ namespace: 'docs', route_group: 'default', model: 'gpt-4o' });
      }),
      existing: { ...NOTHING, namespaces: ['default'] },
      options: { includeBindings: true },
      check: (p) =>
        expect(p.namespaces).to.deep.equal([
          { action: 'skip', name: 'default' },
          { action: 'create', name: 'docs' },
          { action: 'create', name: 'research' },
          { action: 'create', name: 'vip-lab' },
        ]),
    },
    {
      name: 'warns when a master gets more keys than max_child_keys',
      file: fixture((raw) => (raw.data.masters![0]!.max_child_keys = 1)),
      warnings: [/master "team-alpha": 2 active or disabled keys imported, above its max_child_keys 1/],
    },
  ];

  for (const row of rows) {
    it(row.name, function () {
      const p = plan(row.file ?? fixture(), row.existing, row.options);
      if (row.counts) expect(countsOf(p)).to.deep.include(row.counts);
      for (const w of row.warnings ?? []) expect(p.warnings.some((x) => w.test(x)), `no warning matching ${w}:\n${p.warnings.join('\n')}`).to.equal(true);
      row.check?.(p);
    });
  }

  it('never puts a secret into a warning', function () {
    const p = plan(fixture((raw) => raw.data.providers![0]!.all_groups = ['default', 'vip', 'vip']), NOTHING, { includeBindings: true });
    const secrets = [...FIXTURE_TEXT.matchAll(/"(?:api_key|original_token)": "([^"]+)"/g)].map((m) => m[1]!);
    expect(secrets.length).to.be.greaterThan(5);
    for (const secret of secrets) for (const w of p.warnings) expect(w).to.not.include(secret);
  });
});

describe('parseImportFile', function () {
  const rows: Array<{ name: string; text: string; problems: RegExp[] }> = [
    { name: 'not JSON', text: '{"version": ', problems: [/^\(file\): not valid JSON/] },
    { name: 'a wrong version', text: JSON.stringify({ version: '2.0.0', source: { type: 'x' }, data: {} }), problems: [/^version: /] },
    {
      name: 'a bad key field, named by its JSON path',
      text: FIXTURE_TEXT.replace('"quota_limit": 5000', '"quota_limit": "lots"'),
      problems: [/^data\.keys\[0\]\.quota_limit: /],
    },
    {
      name: 'several problems at once',
      text: FIXTURE_TEXT.replace('"weight": 3', '"weight": -1').replace('"status": "suspended"', '"status": "gone"'),
      problems: [/^data\.providers\[0\]\.weight: /, /^data\.masters\[1\]\.status: /],
    },
  ];
  for (const row of rows) {
    it(`reports ${row.name}`, function () {
      const result = parseImportFile(row.text);
      expect(result.ok).to.equal(false);
      if (result.ok) return;
      for (const p of row.problems) expect(result.problems.some((x) => p.test(x)), result.problems.join('\n')).to.equal(true);
    });
  }

  it('accepts the sample file', function () {
    expect(parseImportFile(FIXTURE_TEXT).ok).to.equal(true);
  });

  it('formats paths the way a reader of the file looks them up', function () {
    expect(formatIssuePath(['data', 'keys', 3, 'quota_limit'])).to.equal('data.keys[3].quota_limit');
    expect(formatIssuePath([])).to.equal('(file)');
  });
});
