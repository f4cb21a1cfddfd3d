import { expect } from 'chai';
import type { BindingSnapshot, ProviderSnapshot } from '../../../src/lib/redis-layout.js';
import { parseModelRef } from '../../../src/gateway/routing/model-ref.js';
import { findBinding, planAttempts, weightedOrder } from '../../../src/gateway/routing/plan.js';

/** A deterministic random source (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const provider = (id: number, extra: Partial<ProviderSnapshot> = {}): ProviderSnapshot => ({
  id,
  name: `g#${id}`,
  type: 'openai',
  base_url: 'http://127.0.0.1:9/v1',
  api_key: 'k',
  google_project: null,
  google_location: null,
  group_id: 1,
  group: 'default',
  models: ['m'],
  weight: 1,
  rate_multiplier: 1,
  status: 'active',
  auto_ban: true,
  ban_until: null,
  timeouts: { connect_ms: null, first_byte_ms: null, idle_ms: null, request_ms: null },
  ...extra,
});

const binding = (candidates: BindingSnapshot['candidates'], namespace = 'default'): BindingSnapshot => ({
  namespace,
  public_model: 'm',
  status: 'active',
  updated_at: '',
  candidates,
});

const candidate = (upstreams: Record<string, string>, extra: Partial<BindingSnapshot['candidates'][number]> = {}) => ({
  group_id: 1,
  route_group: 'default',
  weight: 1,
  selector_type: 'exact' as const,
  selector_value: 'm',
  status: 'active' as const,
  upstreams,
  ...extra,
});

describe('gateway routing', () => {
  describe(parseModelRef.name, () => {
    const known = new Set(['default', 'team']);
    const cases: Array<[string, string, string, boolean]> = [
      ['gpt-4o', 'default', 'gpt-4o', false],
      ['team.gpt-4o', 'team', 'gpt-4o', true],
      ['gpt-4.1', 'default', 'gpt-4.1', false],
      ['default.gpt-4.1', 'default', 'gpt-4.1', true],
      ['team.', 'default', 'team.', false],
      ['.hidden', 'default', '.hidden', false],
      ['  team.claude  ', 'team', 'claude', true],
    ];
    for (const [raw, namespace, model, qualified] of cases) {
      it(`"${raw}" → ${namespace} / ${model}`, () => {
        expect(parseModelRef(raw, 'default', known)).to.deep.equal({ namespace, model, qualified });
      });
    }
  });

  describe(findBinding.name, () => {
    it('prefers the explicit binding, falls back to the implicit one of the routing group, and skips a disabled explicit one', () => {
      const explicit = binding([candidate({ 1: 'x' })]);
      const implicit = binding([candidate({ 2: 'm' })], '*');
      const lookup = { bindings: new Map([['default.m', explicit]]), implicitBindings: new Map([['vip/m', implicit]]) };
      expect(findBinding(lookup, 'default', 'm', 'vip')).to.equal(explicit);
      expect(findBinding(lookup, 'team', 'm', 'vip')).to.equal(implicit);
      expect(findBinding(lookup, 'team', 'm', 'default')).to.equal(undefined);
      const disabled = { bindings: new Map([['default.m', { ...explicit, status: 'disabled' }]]), implicitBindings: new Map() };
      expect(findBinding(disabled, 'default', 'm', 'default')).to.equal(undefined);
    });
  });

  describe(weightedOrder.name, () => {
    it('puts an item first in proportion to its weight and leaves out drained ones', () => {
      const random = seeded(42);
      const firsts: Record<string, number> = { a: 0, b: 0, c: 0 };
      const items = [
        { id: 'a', w: 1 },
        { id: 'b', w: 3 },
        { id: 'c', w: 0 },
      ];
      for (let i = 0; i < 4_000; i++) firsts[weightedOrder(items, (x) => x.w, random)[0]!.id]!++;
      expect(firsts.c).to.equal(0);
      expect(firsts.b! / 4_000).to.be.within(0.72, 0.78);
    });
  });

  describe(planAttempts.name, () => {
    const providers = new Map([
      [1, provider(1)],
      [2, provider(2)],
      [3, provider(3, { status: 'auto_disabled' })],
      [4, provider(4, { ban_until: '2999-01-01T00:00:00Z' })],
      [5, provider(5)],
    ]);
    const base = { providers, random: seeded(7), nowMs: Date.parse('2026-11-22T00:00:00Z'), maxAttempts: 10, routeGroup: 'default' };

    it('orders every usable key of every active candidate and leaves out disabled, banned and config_error ones', () => {
      const plan = planAttempts(
        binding([
          candidate({ 1: 'up-1', 2: 'up-2', 3: 'up-3', 4: 'up-4' }),
          candidate({ 5: 'up-5' }, { status: 'config_error' }),
        ]),
        { ...base, isAvailable: () => true },
      );
      expect(plan.map((a) => a.provider.id).sort()).to.deep.equal([1, 2]);
      expect(plan.find((a) => a.provider.id === 2)?.upstreamModel).to.equal('up-2');
    });

    it('tries keys the health gate rejects last instead of never', () => {
      const plan = planAttempts(binding([candidate({ 1: 'a', 2: 'b' })]), { ...base, isAvailable: (id) => id !== 1 });
      expect(plan.map((a) => a.provider.id)).to.deep.equal([2, 1]);
    });

    it('honours the attempt bound and the routing group of explicit candidates', () => {
      const plan = planAttempts(binding([candidate({ 1: 'a', 2: 'b' }), candidate({ 5: 'c' }, { route_group: 'vip' })]), {
        ...base,
        isAvailable: () => true,
        maxAttempts: 1,
      });
      expect(plan).to.have.length(1);
      const vip = planAttempts(binding([candidate({ 1: 'a' }), candidate({ 5: 'c' }, { route_group: 'vip' })]), {
        ...base,
        isAvailable: () => true,
        routeGroup: 'vip',
      });
      expect(vip.map((a) => a.provider.id)).to.deep.equal([5]);
    });
  });
});
