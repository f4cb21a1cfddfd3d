import { expect } from 'chai';
import { PROVIDER_PRESETS } from '../../src/domain/provider-presets.js';
import {
  DEFAULT_PRICE_TABLE,
  parsePriceTable,
  parsePriceTableText,
  planPriceLoad,
  tablePrices,
  type PriceTable,
  type RegisteredPrices,
} from '../../src/domain/pricing/price-table.js';
import { costOf, FREE, microsToUsd, roundUsd, usdToMicros, type BillableUsage, type ModelPrices } from '../../src/lib/pricing.js';

/** Prices of a model of the shipped table (fails the test if the table lost it). */
function shipped(name: string): ModelPrices {
  const entry = DEFAULT_PRICE_TABLE.models[name];
  if (!entry) throw new Error(`${name} is not in the default price table`);
  return tablePrices(entry);
}

const usage = (prompt: number, completion: number, read = 0, write = 0): BillableUsage => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  cache_read_tokens: read,
  cache_write_tokens: write,
});

describe('pricing: the cost rule (src/lib/pricing.ts)', () => {
  describe(costOf.name, () => {
    // Expected values worked out by hand from the list prices per 1M tokens.
    const cases: Array<{ name: string; model: string; usage: BillableUsage; list: number }> = [
      { name: 'plain input + output', model: 'gpt-4o', usage: usage(1_000, 500), list: 0.0075 }, // 1000×2.5 + 500×10
      { name: 'OpenAI cached input at its own price', model: 'gpt-4o', usage: usage(1_000, 500, 600), list: 0.00675 }, // 400×2.5 + 600×1.25 + 500×10
      { name: 'a million tokens each way', model: 'gemini-2.5-flash', usage: usage(1_000_000, 1_000_000), list: 2.8 },
      { name: 'an embedding bills input only', model: 'text-embedding-3-small', usage: usage(1_234, 0), list: 0.00002468 },
      // Anthropic: cache write 1.25× input, read 0.1× input. 2000×3 + 6000×0.3 + 2000×3.75 + 1000×15
      { name: 'Anthropic cache read and write', model: 'claude-sonnet-4-20250514', usage: usage(10_000, 1_000, 6_000, 2_000), list: 0.0303 },
      { name: 'Opus 4.1 cache write only', model: 'claude-opus-4-1-20250805', usage: usage(4_000, 0, 0, 4_000), list: 0.075 }, // 4000×18.75
      { name: 'o4-mini reasoning output', model: 'o4-mini', usage: usage(2_000, 10_000, 1_000), list: 0.045375 }, // 1000×1.1 + 1000×0.275 + 10000×4.4
      // A cache price of 0 means "no separate price": billed at the input price.
      { name: '0 cache-read price = input price', model: 'gemini-2.0-flash-lite', usage: usage(1_000, 0, 400), list: 0.000075 },
      { name: '0 cache-write price = input price (OpenAI)', model: 'gpt-4.1', usage: usage(1_000, 0, 0, 300), list: 0.002 },
      // Cache parts larger than the prompt are clamped: read first, then write within what is left.
      { name: 'cache read larger than the prompt clamps to it', model: 'claude-haiku-4-5', usage: usage(1_000, 0, 5_000, 200), list: 0.0001 },
      { name: 'read + write larger than the prompt', model: 'claude-haiku-4-5', usage: usage(1_000, 0, 700, 900), list: 0.000445 }, // 700×0.1 + 300×1.25
      { name: 'no usage, no cost', model: 'gpt-5', usage: usage(0, 0), list: 0 },
      { name: 'negative or non-finite counts count as 0', model: 'gpt-5', usage: usage(-5, Number.NaN, Number.POSITIVE_INFINITY), list: 0 },
    ];
    for (const c of cases) {
      it(`${c.model}: ${c.name} → $${c.list}`, () => {
        const cost = costOf(c.usage, shipped(c.model));
        expect(cost.list).to.equal(c.list);
        expect(cost.actual).to.equal(c.list);
      });
    }

    it('every model of the shipped table prices 1M input + 1M output at its list prices', () => {
      for (const [name, entry] of Object.entries(DEFAULT_PRICE_TABLE.models)) {
        const cost = costOf(usage(1_000_000, 1_000_000), tablePrices(entry));
        expect(cost.list, name).to.equal(roundUsd(entry.input_per_1m + entry.output_per_1m + entry.per_request));
      }
    });

    const perRequest: ModelPrices = { ...FREE, input_per_1m: 1, output_per_1m: 2, per_request: 0.01 };
    it('adds the per-request price on top of the tokens', () => {
      expect(costOf(usage(1_000, 1_000), perRequest).list).to.equal(0.013);
    });
    it('billRequest=false drops the per-request price but still bills the tokens', () => {
      expect(costOf(usage(1_000, 1_000), perRequest, 1, false).list).to.equal(0.003);
      expect(costOf(usage(0, 0), perRequest, 1, false).list).to.equal(0);
    });

    const multipliers: Array<[number, number]> = [
      [0, 0],
      [0.5, 0.00375],
      [1, 0.0075],
      [2.5, 0.01875],
    ];
    for (const [multiplier, actual] of multipliers) {
      it(`rate multiplier ${multiplier}: actual = list × ${multiplier}, list unchanged`, () => {
        const cost = costOf(usage(1_000, 500), shipped('gpt-4o'), multiplier);
        expect(cost).to.deep.equal({ list: 0.0075, actual });
      });
    }
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      it(`an unusable multiplier (${bad}) counts as 1`, () => {
        expect(costOf(usage(1_000, 500), shipped('gpt-4o'), bad).actual).to.equal(0.0075);
      });
    }

    it('keeps float noise out: results are rounded to 1e-9 USD', () => {
      // 3 × 0.1 tokens-worth in floating point is 0.30000000000000004.
      const cost = costOf(usage(100_000, 0), { ...FREE, input_per_1m: 3 }, 0.1);
      expect(cost.actual).to.equal(0.03);
      expect(roundUsd(0.1 + 0.2)).to.equal(0.3);
      expect(roundUsd(1.23456789049)).to.equal(1.23456789);
    });
  });

  describe(usdToMicros.name, () => {
    const cases: Array<[number, number]> = [
      [0.0075, 7_500],
      [2.8, 2_800_000],
      [1.0000001, 1_000_001], // rounded up, never down
      [0.00000005, 1], // one gpt-5-nano input token: a positive cost is never 0 µ$
      [1e-10, 1], // below the 1e-9 rounding of roundUsd: still 1
      [0, 0],
      [-1, 0],
      [Number.NaN, 0],
      [Number.POSITIVE_INFINITY, 0],
    ];
    for (const [usd, micros] of cases) {
      it(`$${usd} → ${micros} µ$`, () => {
        expect(usdToMicros(usd)).to.equal(micros);
      });
    }
    it('one token of the cheapest priced model still counts against a quota', () => {
      const cost = costOf(usage(1, 0), shipped('gpt-5-nano'));
      expect(cost.list).to.be.greaterThan(0);
      expect(usdToMicros(cost.actual)).to.equal(1);
    });
    it('microsToUsd is the inverse for whole micros', () => {
      for (const micros of [0, 1, 7_500, 2_800_000, 123_456_789]) expect(usdToMicros(microsToUsd(micros))).to.equal(micros);
      expect(microsToUsd(7_500)).to.equal(0.0075);
    });
  });
});

describe('pricing: the default price table', () => {
  it('validates, with a version, USD and source URLs', () => {
    expect(DEFAULT_PRICE_TABLE.version).to.match(/^\d{4}-\d\d-\d\d$/);
    expect(DEFAULT_PRICE_TABLE.currency).to.equal('USD');
    expect(DEFAULT_PRICE_TABLE.sources.length).to.be.greaterThan(0);
    for (const url of DEFAULT_PRICE_TABLE.sources) expect(url).to.match(/^https:\/\//);
  });

  it('covers every model a provider preset starts with', () => {
    for (const [preset, { models }] of Object.entries(PROVIDER_PRESETS)) {
      for (const model of models) expect(DEFAULT_PRICE_TABLE.models, `${preset}: ${model}`).to.have.property(model);
    }
  });

  it('covers the well-known OpenAI, Anthropic and Gemini models', () => {
    for (const name of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o3', 'o4-mini', 'gpt-5', 'text-embedding-3-large', 'claude-sonnet-4-20250514', 'claude-3-5-haiku-20241022', 'gemini-2.5-pro', 'text-embedding-004']) {
      expect(DEFAULT_PRICE_TABLE.models, name).to.have.property(name);
    }
  });

  it('prices Anthropic cache writes at 1.25× and cache reads at 0.1× the input price', () => {
    const claude = Object.entries(DEFAULT_PRICE_TABLE.models).filter(([name]) => name.startsWith('claude-'));
    expect(claude.length).to.be.greaterThan(10);
    for (const [name, m] of claude) {
      expect(m.cache_write_per_1m, name).to.be.closeTo(m.input_per_1m * 1.25, 1e-9);
      expect(m.cache_read_per_1m, name).to.be.closeTo(m.input_per_1m * 0.1, 1e-9);
    }
  });

  it('never prices a cached token above an uncached one, nor gives an embedding an output price', () => {
    for (const [name, m] of Object.entries(DEFAULT_PRICE_TABLE.models)) {
      expect(m.cache_read_per_1m, name).to.be.at.most(m.input_per_1m);
      if (m.kind === 'embedding') expect(m.output_per_1m, name).to.equal(0);
    }
  });

  it('names each problem of a bad table by its JSON path', () => {
    const bad = {
      version: 'not a version',
      currency: 'EUR',
      sources: ['ftp://example.com/prices'],
      models: { 'gpt-x': { kind: 'image', context_window: 0, max_output_tokens: null, input_per_1m: -1, output_per_1m: '3', cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0 } },
      extra: true,
    };
    const parsed = parsePriceTable(bad);
    expect(parsed.ok).to.equal(false);
    const problems = parsed.ok ? [] : parsed.problems.map((p) => p.split(':')[0]);
    expect(problems).to.include.members([
      'version',
      'currency',
      'sources[0]',
      'models.gpt-x.kind',
      'models.gpt-x.context_window',
      'models.gpt-x.input_per_1m',
      'models.gpt-x.output_per_1m',
      '(file)',
    ]);
    const missing = parsePriceTable({ ...DEFAULT_PRICE_TABLE, models: { 'gpt-x': { kind: 'chat' } } });
    expect(missing.ok ? [] : missing.problems).to.include('models.gpt-x.input_per_1m: Invalid input: expected number, received undefined');
    expect(parsePriceTable({ ...DEFAULT_PRICE_TABLE, models: {} }).ok).to.equal(false);
    const text = parsePriceTableText('{"version": ');
    expect(text.ok ? [] : text.problems[0]).to.match(/^\(file\): not valid JSON/);
  });
});

describe('pricing: the load plan (overwrite rule)', () => {
  const table: PriceTable = {
    version: '2027-01-01',
    currency: 'USD',
    sources: ['https://example.com/prices'],
    models: {
      fresh: { kind: 'chat', context_window: 1000, max_output_tokens: 100, input_per_1m: 1, output_per_1m: 2, cache_read_per_1m: 0.1, cache_write_per_1m: 0, per_request: 0 },
      stale: { kind: 'chat', context_window: null, max_output_tokens: null, input_per_1m: 3, output_per_1m: 4, cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0 },
      current: { kind: 'chat', context_window: null, max_output_tokens: null, input_per_1m: 5, output_per_1m: 6, cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0 },
      mine: { kind: 'chat', context_window: null, max_output_tokens: null, input_per_1m: 7, output_per_1m: 8, cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0 },
    },
  };
  const row = (name: string, price_source: string, input: number, output: number): RegisteredPrices => ({
    name,
    price_source,
    price_input: input,
    price_output: output,
    price_cache_read: 0,
    price_cache_write: 0,
    price_per_request: 0,
  });
  const existing = new Map([
    ['stale', row('stale', 'default:2026-12-01', 2.5, 4)],
    ['current', row('current', 'default:2027-01-01', 5, 6)],
    ['mine', row('mine', 'admin', 0.5, 0.5)],
  ]);
  const actions = (plan: ReturnType<typeof planPriceLoad>) => Object.fromEntries(plan.map((p) => [p.name, p.action]));

  it('creates missing models, refreshes default-priced ones, keeps admin prices', () => {
    expect(actions(planPriceLoad(table, existing))).to.deep.equal({ current: 'unchanged', fresh: 'create', mine: 'skip', stale: 'update' });
  });
  it('--overwrite replaces admin prices too', () => {
    expect(actions(planPriceLoad(table, existing, { overwrite: true }))).to.deep.equal({ current: 'unchanged', fresh: 'create', mine: 'update', stale: 'update' });
  });
  it('a default-priced row at this version whose prices differ is brought back to the table', () => {
    const drifted = new Map([['current', row('current', 'default:2027-01-01', 5, 99)]]);
    expect(actions(planPriceLoad(table, drifted, { only: ['current'] }))).to.deep.equal({ current: 'update' });
  });
  it('`only` narrows the load to the named models of the table', () => {
    expect(actions(planPriceLoad(table, existing, { only: ['fresh', 'mine', 'not-in-table'] }))).to.deep.equal({ fresh: 'create', mine: 'skip' });
  });
});
