import { expect } from 'chai';
import type { ModelCapabilities, ProviderSnapshot } from '../../../src/lib/redis-layout.js';
import { DEFAULT_EXPECTED_OUTPUT_TOKENS, estimateSpend, registryModel, requestCost, requestedOutputTokens } from '../../../src/gateway/proxy/pricing.js';
import type { Attempt } from '../../../src/gateway/routing/plan.js';

const model = (name: string, prices: Partial<ModelCapabilities['prices']> = {}, maxOutput: number | null = null): ModelCapabilities => ({
  name,
  kind: 'chat',
  context_window: null,
  max_output_tokens: maxOutput,
  cost_per_token: 0,
  supports_stream: true,
  supports_vision: false,
  supports_functions: false,
  supports_tool_choice: false,
  supports_fim: false,
  prices: { input_per_1m: 0, output_per_1m: 0, cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0, ...prices },
});

const attempt = (id: number, upstreamModel: string, rateMultiplier = 1): Attempt => ({
  provider: { id, rate_multiplier: rateMultiplier } as ProviderSnapshot,
  upstreamModel,
  candidate: {} as Attempt['candidate'],
});

describe('gateway pricing', () => {
  const models = new Map<string, ModelCapabilities>([
    ['gpt-4o-2024-08-06', model('gpt-4o-2024-08-06', { input_per_1m: 2.5, output_per_1m: 10 }, 16_384)],
    ['team.smart', model('smart', { input_per_1m: 3, output_per_1m: 15 })],
    ['smart', model('smart', { input_per_1m: 1, output_per_1m: 1 })],
    ['flat', model('flat', { per_request: 0.01 })],
  ]);

  describe(registryModel.name, () => {
    const cases: Array<[string, string, string, string, string | undefined]> = [
      ['the upstream model when the registry knows it', 'gpt-4o-2024-08-06', 'team', 'smart', 'gpt-4o-2024-08-06'],
      ['else the namespaced public model', 'claude-x', 'team', 'smart', 'team.smart'],
      ['else the bare public model', 'claude-x', 'other', 'smart', 'smart'],
      ['unknown everywhere: none (free)', 'claude-x', 'team', 'nope', undefined],
    ];
    for (const [name, upstream, ns, m, expected] of cases) {
      it(name, () => {
        const entry = registryModel(models, upstream, ns, m);
        expect(entry === undefined ? undefined : entry === models.get('team.smart') ? 'team.smart' : entry.name).to.equal(expected);
      });
    }
  });

  describe(requestedOutputTokens.name, () => {
    const cases: Array<[Record<string, unknown>, number]> = [
      [{ max_tokens: 100 }, 100],
      [{ max_completion_tokens: 200 }, 200],
      [{ max_output_tokens: 300 }, 300],
      [{ generationConfig: { maxOutputTokens: 400 } }, 400],
      [{ max_tokens: -5 }, 0],
      [{ max_tokens: 'lots' }, 0],
      [{ max_tokens: 1e12 }, 1_000_000],
      [{}, 0],
    ];
    for (const [body, expected] of cases) it(`${JSON.stringify(body)} → ${expected}`, () => expect(requestedOutputTokens(body)).to.equal(expected));
  });

  describe(estimateSpend.name, () => {
    const ref = { namespace: 'team', model: 'smart' };

    it('prompt + the request’s own cap, priced at the dearest planned attempt (with its multiplier)', () => {
      // attempt 1: gpt-4o (2.5/10) ×1 → 1000×2.5 + 500×10 = 7,500 µ$; attempt 2: team.smart (3/15) ×2 → (3,000 + 7,500)×2 = 21,000 µ$
      const sut = estimateSpend([attempt(1, 'gpt-4o-2024-08-06'), attempt(2, 'claude-x', 2)], models, ref, 1_000, { max_tokens: 500 });
      expect(sut).to.deep.equal({ tokens: 1_500, micros: 21_000 });
    });

    it('without a cap: the model’s max_output_tokens, else the default', () => {
      expect(estimateSpend([attempt(1, 'gpt-4o-2024-08-06')], models, ref, 10, {}).tokens).to.equal(10 + 16_384);
      expect(estimateSpend([attempt(1, 'claude-x')], models, ref, 10, {}).tokens).to.equal(10 + DEFAULT_EXPECTED_OUTPUT_TOKENS);
    });

    it('an unknown model is free', () => {
      expect(estimateSpend([attempt(1, 'mystery')], models, { namespace: 'x', model: 'mystery' }, 1_000, {})).to.deep.equal({ tokens: 1_000 + DEFAULT_EXPECTED_OUTPUT_TOKENS, micros: 0 });
    });
  });

  describe(requestCost.name, () => {
    const usage = { prompt_tokens: 1_000, completion_tokens: 100, cache_read_tokens: 0, cache_write_tokens: 0 };
    it('a billed request: its usage at the serving attempt’s prices × multiplier', () => {
      expect(requestCost(true, usage, attempt(1, 'gpt-4o-2024-08-06', 1.5), models, { namespace: 'default', model: 'gpt-4o' })).to.deep.equal({ list: 0.0035, actual: 0.00525 });
    });
    it('the per-request price applies to billed requests', () => {
      expect(requestCost(true, undefined, attempt(1, 'flat'), models, { namespace: 'default', model: 'flat' })).to.deep.equal({ list: 0.01, actual: 0.01 });
    });
    it('a request not billed, or never sent, costs nothing', () => {
      expect(requestCost(false, usage, attempt(1, 'flat'), models, { namespace: 'default', model: 'flat' })).to.deep.equal({ list: 0, actual: 0 });
      expect(requestCost(true, usage, undefined, models, { namespace: null, model: null })).to.deep.equal({ list: 0, actual: 0 });
    });
  });
});
