import { expect } from 'chai';
import { createGatewayMetrics, OTHER_MODEL, publicModelLabel } from '../../../src/gateway/metrics.js';
import type { BindingSnapshot } from '../../../src/lib/redis-layout.js';

/** The value of one series in Prometheus text, matched on the given labels (any order, others ignored). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/gi)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

const binding = (namespace: string, publicModel: string): BindingSnapshot => ({ namespace, public_model: publicModel, status: 'active', updated_at: '', candidates: [] });

describe('gateway metrics', () => {
  describe(publicModelLabel.name, () => {
    const lookup = {
      bindings: new Map([['team.smart', binding('team', 'smart')]]),
      implicitBindings: new Map([['default/gpt-4o-mini', binding('*', 'gpt-4o-mini')]]),
    };
    const table: Array<[string | null, string]> = [
      ['smart', 'smart'],
      ['gpt-4o-mini', 'gpt-4o-mini'],
      ['no-such-model', OTHER_MODEL],
      ['ezk_looks-like-a-key-000000', OTHER_MODEL],
      [null, OTHER_MODEL],
      ['', OTHER_MODEL],
    ];
    for (const [model, label] of table) {
      it(`${String(model)} → ${label}`, () => expect(publicModelLabel(lookup, model)).to.equal(label));
    }

    it('follows the replica when its maps are replaced', () => {
      expect(publicModelLabel(lookup, 'fresh')).to.equal(OTHER_MODEL);
      const next = { bindings: lookup.bindings, implicitBindings: new Map([['default/fresh', binding('*', 'fresh')]]) };
      expect(publicModelLabel(next, 'fresh')).to.equal('fresh');
    });
  });

  it('records the proxy series and collects the breaker gauge at scrape time', async () => {
    let unavailable = 0;
    const sut = createGatewayMetrics({ unavailableUpstreamKeys: () => unavailable });
    sut.proxied({
      status: '200',
      model: 'gpt-4o-mini',
      providerType: 'openai',
      formatIn: 'openai',
      attempts: [
        { providerType: 'openai', outcome: 'connect_error', headersSeconds: null },
        { providerType: 'openai', outcome: 'success', headersSeconds: 0.05 },
      ],
      ttftSeconds: null,
      overheadSeconds: 0.0004,
    });
    sut.proxied({ status: 'aborted', model: 'other', providerType: 'none', formatIn: 'anthropic', attempts: [], ttftSeconds: 0.2, overheadSeconds: null });
    unavailable = 3;
    const text = await sut.registry.metrics();
    expect(sample(text, 'ez_gateway_proxy_requests_total', { status: '200', model: 'gpt-4o-mini', provider_type: 'openai', format_in: 'openai' })).to.equal(1);
    expect(sample(text, 'ez_gateway_proxy_requests_total', { status: 'aborted', model: 'other', provider_type: 'none', format_in: 'anthropic' })).to.equal(1);
    expect(sample(text, 'ez_gateway_upstream_attempts_total', { provider_type: 'openai', outcome: 'connect_error' })).to.equal(1);
    expect(sample(text, 'ez_gateway_upstream_attempts_total', { provider_type: 'openai', outcome: 'success' })).to.equal(1);
    expect(sample(text, 'ez_gateway_upstream_duration_seconds_count', { provider_type: 'openai' })).to.equal(1);
    expect(sample(text, 'ez_gateway_upstream_duration_seconds_sum', { provider_type: 'openai' })).to.equal(0.05);
    expect(sample(text, 'ez_gateway_overhead_seconds_bucket', { le: '0.0005' })).to.equal(1);
    expect(sample(text, 'ez_gateway_overhead_seconds_bucket', { le: '0.00025' })).to.equal(0);
    expect(sample(text, 'ez_gateway_ttft_seconds_count', { format_in: 'anthropic' })).to.equal(1);
    expect(sample(text, 'ez_gateway_breaker_open')).to.equal(3);
    expect(sample(text, 'ez_gateway_log_buffer_depth')).to.equal(0);
  });
});
