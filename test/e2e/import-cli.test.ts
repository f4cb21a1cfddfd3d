import { expect } from 'chai';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { useCli } from '../support/cli.js';
import { testEnv } from '../support/hooks.js';

const FIXTURE = 'test/fixtures/import/exporter-v1.json';

describe('ez-api import / export (CLI)', function () {
  this.timeout(60_000);
  const cli = useCli('import-cli');
  const ezApi = cli.run;
  const count = async (table: string) => Number(((await testEnv().knex(table).count('* as n')) as Array<{ n: string }>)[0]!.n);

  it('a dry run prints the summary and writes nothing', async function () {
    const { code, output } = await ezApi(['import', FIXTURE, '--dry-run']);
    expect(code, output).to.equal(0);
    expect(output).to.include('DRY RUN');
    expect(output).to.match(/provider groups\s+3\s+0\s+1/);
    expect(output).to.match(/masters\s+2\s+0\s+0/);
    expect(output).to.match(/child keys\s+3\s+0\s+1/);
    expect(output).to.include('channel 99 skipped: unsupported type');
    expect(output).to.include('unsupported provider type "fax-machine"');
    expect(output).to.include('Master keys: none issued (dry run)');
    expect(output).to.not.match(/ezm_/);
    for (const secret of ['sk-legacy-token-alpha-0001', 'sk-import-openai-aaaaaaaaaaaaaaaa']) expect(output).to.not.include(secret);
    expect(await count('masters')).to.equal(0);
    expect(await count('provider_groups')).to.equal(0);
  });

  it('a real run prints the new master keys once (--json), and export writes the document', async function () {
    const { code, output } = await ezApi(['import', FIXTURE, '--json', '--include-bindings']);
    expect(code, output).to.equal(0);
    const summary = JSON.parse(output) as { dry_run: boolean; master_keys: Array<{ name: string; key: string }>; counts: { bindings: { created: number } } };
    expect(summary.dry_run).to.equal(false);
    expect(summary.master_keys.map((m) => m.name).sort()).to.deep.equal(['team-alpha', 'team-vip']);
    expect(summary.master_keys.every((m) => m.key.startsWith('ezm_'))).to.equal(true);
    expect(summary.counts.bindings.created).to.equal(2);
    expect(await count('masters')).to.equal(2);

    const out = path.join(cli.dataDir(), 'export.json');
    const exported = await ezApi(['export', '--out', out]);
    expect(exported.code, exported.output).to.equal(0);
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { data: { masters: unknown[]; keys: unknown[] } };
    expect(doc.data.masters).to.have.length(2);
    expect(doc.data.keys).to.have.length(3);
    expect(readFileSync(out, 'utf8')).to.not.include('sk-import-openai');
  });

  it('a file that fails validation exits 2 naming each problem by its JSON path', async function () {
    const bad = path.join(cli.dataDir(), 'bad.json');
    writeFileSync(bad, readFileSync(FIXTURE, 'utf8').replace('"quota_limit": 5000', '"quota_limit": "lots"').replace('"weight": 3', '"weight": -1'));
    const { code, output } = await ezApi(['import', bad]);
    expect(code, output).to.equal(2);
    expect(output).to.include('data.keys[0].quota_limit: ');
    expect(output).to.include('data.providers[0].weight: ');
    expect(output).to.not.include('    at ');
    expect(await count('masters')).to.equal(0);
  });

  it('a usage error exits 2 with a clear message', async function () {
    const badPolicy = await ezApi(['import', FIXTURE, '--conflict', 'maybe']);
    expect(badPolicy.code).to.equal(2);
    expect(badPolicy.output).to.include('--conflict must be one of skip, overwrite, not "maybe"');
    const noFile = await ezApi(['import']);
    expect(noFile.code).to.equal(2);
    expect(noFile.output).to.include('missing FILE');
    const missing = await ezApi(['import', path.join(cli.dataDir(), 'nope.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.output).to.include('cannot read');
  });
});
