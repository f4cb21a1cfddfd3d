import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_PRICE_TABLE } from '../../src/domain/pricing/price-table.js';
import { useCli } from '../support/cli.js';
import { testEnv } from '../support/hooks.js';

const TABLE_SIZE = Object.keys(DEFAULT_PRICE_TABLE.models).length;

describe('ez-api prices load (CLI)', function () {
  // Each case spawns the CLI (tsx) up to three times.
  this.timeout(120_000);
  const cli = useCli('prices-cli');
  const ezApi = cli.run;
  const models = () => testEnv().knex('models').select('name', 'price_input', 'price_source').orderBy('name') as Promise<Array<{ name: string; price_input: number; price_source: string }>>;

  it('--dry-run prints the counts and writes nothing', async () => {
    const { code, output } = await ezApi(['prices', 'load', '--dry-run']);
    expect(code, output).to.equal(0);
    expect(output).to.include(`Price table ${DEFAULT_PRICE_TABLE.version} (shipped with ez-api)`);
    expect(output).to.include('DRY RUN');
    expect(output).to.match(new RegExp(`created\\s+${TABLE_SIZE}\\b`));
    expect(await models()).to.have.length(0);
  });

  it('loads the shipped table, keeps admin prices, and --overwrite replaces them (--json)', async () => {
    await testEnv().knex('models').insert({ name: 'gpt-4o', price_input: 1, price_source: 'admin' });
    const first = await ezApi(['prices', 'load', '--json']);
    expect(first.code, first.output).to.equal(0);
    const summary = JSON.parse(first.output) as { created: number; skipped: number; models: { skipped: string[] } };
    expect(summary).to.include({ created: TABLE_SIZE - 1, skipped: 1 });
    expect(summary.models.skipped).to.deep.equal(['gpt-4o']);
    expect((await models()).find((m) => m.name === 'gpt-4o')).to.deep.equal({ name: 'gpt-4o', price_input: 1, price_source: 'admin' });

    const overwrite = await ezApi(['prices', 'load', '--overwrite']);
    expect(overwrite.code, overwrite.output).to.equal(0);
    expect(overwrite.output).to.match(/updated\s+1\b/);
    expect((await models()).find((m) => m.name === 'gpt-4o')).to.deep.equal({ name: 'gpt-4o', price_input: 2.5, price_source: `default:${DEFAULT_PRICE_TABLE.version}` });
  });

  it('--file loads an operator table; an invalid one exits 2 naming each problem', async () => {
    const own = path.join(cli.dataDir(), 'prices.json');
    writeFileSync(
      own,
      JSON.stringify({
        version: 'acme-7',
        currency: 'USD',
        sources: ['https://prices.example.com/'],
        models: { 'acme-large': { kind: 'chat', context_window: 32_000, max_output_tokens: 4_096, input_per_1m: 0.5, output_per_1m: 1.5, cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0.002 } },
      }),
    );
    const ok = await ezApi(['prices', 'load', '--file', own]);
    expect(ok.code, ok.output).to.equal(0);
    expect(ok.output).to.match(/created\s+1\b/);
    expect(await models()).to.deep.equal([{ name: 'acme-large', price_input: 0.5, price_source: 'default:acme-7' }]);

    const bad = path.join(cli.dataDir(), 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 'v 1', currency: 'USD', sources: [], models: { m: { kind: 'chat', input_per_1m: -2 } } }));
    const refused = await ezApi(['prices', 'load', '--file', bad]);
    expect(refused.code, refused.output).to.equal(2);
    expect(refused.output).to.include('is not a valid price table');
    expect(refused.output).to.include('version: ');
    expect(refused.output).to.include('models.m.input_per_1m: ');
    expect(refused.output).to.not.include('    at ');
  });

  it('a usage error exits 2 with a clear message', async () => {
    const none = await ezApi(['prices']);
    expect(none.code).to.equal(2);
    expect(none.output).to.include('missing subcommand (load)');
    const unknown = await ezApi(['prices', 'load', '--fast']);
    expect(unknown.code).to.equal(2);
    expect(unknown.output).to.include("Unknown option '--fast'");
    const missing = await ezApi(['prices', 'load', '--file', path.join(cli.dataDir(), 'nope.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.output).to.include('cannot read');
  });
});
