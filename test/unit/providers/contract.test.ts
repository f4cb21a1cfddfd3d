import { expect } from 'chai';
import { ProviderConfigError, type ProviderAdapter } from '../../../src/gateway/providers/adapter.js';
import { ADAPTERS, adapterFor, PROVIDER_TYPES } from '../../../src/gateway/providers/registry.js';
import type { Operation } from '../../../src/gateway/types.js';
import type { ProviderSnapshot } from '../../../src/lib/redis-layout.js';
import { CODEX_TOKEN, snapshot } from './fixtures.js';

/**
 * The shared contract every adapter passes (STYLE.md), for every provider type × operation: what
 * `supports` says is what `target` does, and a target is always a clean origin + path with the
 * credential in a header only.
 */

const ALL_OPERATIONS: readonly Operation[] = [
  'chat',
  'completions',
  'embeddings',
  'responses',
  'messages',
  'count_tokens',
  'generate_content',
  'stream_generate_content',
];

/** A usable snapshot for each type (projects where required, a JWT for codex). */
function usable(type: string, overrides: Partial<ProviderSnapshot> = {}): ProviderSnapshot {
  const base: Partial<ProviderSnapshot> = { base_url: type === 'compatible' ? 'http://127.0.0.1:8000/v1' : '' };
  if (['vertex', 'vertex-express', 'gemini-cli', 'antigravity'].includes(type)) base.google_project = 'proj-1';
  if (type === 'codex') base.api_key = CODEX_TOKEN;
  return snapshot(type, { ...base, ...overrides });
}

function expectConfigError(fn: () => unknown, reason: string): ProviderConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a ProviderConfigError').to.be.instanceOf(ProviderConfigError);
  const error = caught as ProviderConfigError;
  expect(error.reason).to.equal(reason);
  expect(error.code).to.equal('provider_config_error');
  expect(error.providerId).to.equal(7);
  return error;
}

describe('provider adapters: shared contract', () => {
  for (const type of PROVIDER_TYPES) {
    describe(type, () => {
      const adapter = adapterFor(type) as ProviderAdapter;

      it('resolves to an adapter that lists the type', () => {
        expect(adapter).to.not.equal(undefined);
        expect(adapter.types).to.include(type);
        expect(adapter.operations.length).to.be.greaterThan(0);
      });

      for (const op of ALL_OPERATIONS) {
        for (const stream of [false, true]) {
          it(`${op}${stream ? ' (stream)' : ''}: supports() agrees with operations and target()`, () => {
            const provider = usable(type);
            const args = { op, provider, upstreamModel: 'some/model name', stream };
            expect(adapter.supports(op)).to.equal(adapter.operations.includes(op));
            if (!adapter.supports(op)) {
              expectConfigError(() => adapter.target(args), 'unsupported_operation');
              return;
            }
            const target = adapter.target(args);
            expect(target.origin).to.match(/^https?:\/\/[^/?#@\s]+$/);
            expect(target.path).to.match(/^\/[^\s]*$/);
            expect(target.path).to.not.include('//');
            const url = `${target.origin}${target.path}`;
            expect(url, 'credential in URL').to.not.include(provider.api_key);
            expect(url).to.not.match(/[?&]key=/);
            for (const name of Object.keys(target.headers)) expect(name).to.equal(name.toLowerCase());
            expect(Object.values(target.headers).some((v) => v.includes(provider.api_key)), 'credential in a header').to.equal(true);
            expect(target.headers['content-type']).to.equal('application/json');
            // A model name never escapes its path segment.
            if (adapter.wireFormat === 'gemini' && !['gemini-cli', 'antigravity'].includes(type)) {
              expect(target.path).to.include('/models/some%2Fmodel%20name:');
            }
          });
        }
      }

      it('an upstream key without a credential yet is a configuration error', () => {
        const op = adapter.operations[0]!;
        expectConfigError(() => adapter.target({ op, provider: usable(type, { api_key: '  ' }), upstreamModel: 'm', stream: false }), 'missing_credential');
      });

      it('a credential that cannot be one header value is refused, and not echoed', () => {
        const op = adapter.operations[0]!;
        const error = expectConfigError(
          () => adapter.target({ op, provider: usable(type, { api_key: 'sk-bad key\r\nx-evil: 1' }), upstreamModel: 'm', stream: false }),
          'unsupported_credential',
        );
        expect(error.message).to.not.include('sk-bad');
      });

      it('a metadata-endpoint base URL is refused without echoing the URL', () => {
        const op = adapter.operations[0]!;
        const error = expectConfigError(
          () => adapter.target({ op, provider: usable(type, { base_url: 'http://169.254.169.254/token-in-path' }), upstreamModel: 'm', stream: false }),
          'invalid_base_url',
        );
        expect(error.message).to.not.include('token-in-path');
        expect(error.message).to.not.include('169.254');
      });
    });
  }
});

describe('provider adapters: configuration errors', () => {
  const cases: Array<{ name: string; type: string; provider: Partial<ProviderSnapshot>; op: Operation; model?: string; reason: string }> = [
    { name: 'compatible without base_url', type: 'compatible', provider: { base_url: '' }, op: 'chat', reason: 'missing_base_url' },
    { name: 'base URL with credentials', type: 'openai', provider: { base_url: 'https://user:pw@api.example.com/v1' }, op: 'chat', reason: 'invalid_base_url' },
    { name: 'base URL with a query', type: 'compatible', provider: { base_url: 'https://api.example.com/v1?key=abc' }, op: 'chat', reason: 'invalid_base_url' },
    { name: 'non-http base URL', type: 'anthropic', provider: { base_url: 'file:///etc/passwd' }, op: 'messages', reason: 'invalid_base_url' },
    { name: 'vertex without project', type: 'vertex', provider: { google_project: null }, op: 'generate_content', reason: 'missing_project' },
    { name: 'vertex with blank project', type: 'vertex', provider: { google_project: '  ' }, op: 'generate_content', reason: 'missing_project' },
    { name: 'vertex location that would change the host', type: 'vertex', provider: { google_project: 'p', google_location: 'evil.example.com#' }, op: 'generate_content', reason: 'invalid_location' },
    { name: 'vertex location with a slash', type: 'vertex-express', provider: { google_project: 'p', google_location: 'us/central1' }, op: 'generate_content', reason: 'invalid_location' },
    { name: 'vertex service-account JSON', type: 'vertex', provider: { google_project: 'p', api_key: '{"type":"service_account","private_key":"x"}' }, op: 'generate_content', reason: 'unsupported_credential' },
    { name: 'gemini-cli without project', type: 'gemini-cli', provider: {}, op: 'generate_content', reason: 'missing_project' },
    { name: 'antigravity without project', type: 'antigravity', provider: { google_project: '' }, op: 'stream_generate_content', reason: 'missing_project' },
    { name: 'gemini with an empty model', type: 'gemini', provider: {}, op: 'generate_content', model: ' ', reason: 'missing_model' },
    { name: 'gemini with only a models/ prefix', type: 'gemini', provider: {}, op: 'generate_content', model: 'models/', reason: 'missing_model' },
    { name: 'codex asked for chat', type: 'codex', provider: {}, op: 'chat', reason: 'unsupported_operation' },
  ];
  for (const c of cases) {
    it(`${c.type}: ${c.name} → ${c.reason}`, () => {
      const adapter = adapterFor(c.type)!;
      expectConfigError(() => adapter.target({ op: c.op, provider: snapshot(c.type, c.provider), upstreamModel: c.model ?? 'm', stream: false }), c.reason);
    });
  }

  it('every adapter is in ADAPTERS once', () => {
    expect(new Set(ADAPTERS).size).to.equal(ADAPTERS.length);
    expect(ADAPTERS.map((a) => a.family)).to.have.members(['openai', 'anthropic', 'gemini', 'vertex', 'codex', 'gemini-cli']);
  });
});
