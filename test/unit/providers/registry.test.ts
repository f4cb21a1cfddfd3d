import { expect } from 'chai';
import type { ProviderAdapter } from '../../../src/gateway/providers/adapter.js';
import { ADAPTERS, adapterFor, buildAdapterIndex, PROVIDER_TYPES } from '../../../src/gateway/providers/registry.js';

describe('provider registry', () => {
  const expected: Record<string, { family: string; wireFormat: string }> = {
    openai: { family: 'openai', wireFormat: 'openai' },
    compatible: { family: 'openai', wireFormat: 'openai' },
    anthropic: { family: 'anthropic', wireFormat: 'anthropic' },
    claude: { family: 'anthropic', wireFormat: 'anthropic' },
    'claude-code': { family: 'anthropic', wireFormat: 'anthropic' },
    codex: { family: 'codex', wireFormat: 'openai' },
    'gemini-cli': { family: 'gemini-cli', wireFormat: 'gemini' },
    antigravity: { family: 'gemini-cli', wireFormat: 'gemini' },
    gemini: { family: 'gemini', wireFormat: 'gemini' },
    google: { family: 'gemini', wireFormat: 'gemini' },
    aistudio: { family: 'gemini', wireFormat: 'gemini' },
    vertex: { family: 'vertex', wireFormat: 'gemini' },
    'vertex-express': { family: 'vertex', wireFormat: 'gemini' },
  };

  it('covers exactly the 13 provider types of DESIGN §4', () => {
    expect([...PROVIDER_TYPES].sort()).to.deep.equal(Object.keys(expected).sort());
    expect(PROVIDER_TYPES).to.have.length(13);
  });

  for (const [type, { family, wireFormat }] of Object.entries(expected)) {
    it(`${type} → ${family} adapter speaking ${wireFormat}`, () => {
      const adapter = adapterFor(type);
      expect(adapter?.family).to.equal(family);
      expect(adapter?.wireFormat).to.equal(wireFormat);
    });
  }

  it('normalizes the type like the control plane (trim, lower-case)', () => {
    expect(adapterFor('  Vertex-Express ')?.family).to.equal('vertex');
    expect(adapterFor('OPENAI')?.family).to.equal('openai');
  });

  it('returns undefined for an unknown type', () => {
    expect(adapterFor('azure')).to.equal(undefined);
    expect(adapterFor('')).to.equal(undefined);
  });

  it('operations per family', () => {
    expect(adapterFor('openai')!.operations).to.have.members(['chat', 'completions', 'embeddings', 'responses']);
    expect(adapterFor('anthropic')!.operations).to.have.members(['messages', 'count_tokens']);
    expect(adapterFor('gemini')!.operations).to.have.members(['generate_content', 'stream_generate_content']);
    expect(adapterFor('vertex')!.operations).to.have.members(['generate_content', 'stream_generate_content']);
    expect(adapterFor('codex')!.operations).to.deep.equal(['responses']);
    expect(adapterFor('gemini-cli')!.operations).to.have.members(['generate_content', 'stream_generate_content']);
  });

  describe(buildAdapterIndex.name, () => {
    const fake = (family: string, types: string[]) => ({ ...ADAPTERS[0]!, family, types }) as unknown as ProviderAdapter;

    it('refuses a type claimed by two adapters', () => {
      expect(() => buildAdapterIndex([fake('a', ['x']), fake('b', ['x'])], ['x'])).to.throw(/claimed by both the a and b adapters/);
    });

    it('refuses an unknown type', () => {
      expect(() => buildAdapterIndex([fake('a', ['x', 'y'])], ['x'])).to.throw(/unknown provider type "y"/);
    });

    it('refuses a known type without an adapter', () => {
      expect(() => buildAdapterIndex([fake('a', ['x'])], ['x', 'z'])).to.throw(/no provider adapter for type\(s\): z/);
    });

    it('indexes the real adapters', () => {
      expect(buildAdapterIndex(ADAPTERS).size).to.equal(13);
    });
  });
});
