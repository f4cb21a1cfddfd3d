import { expect } from 'chai';
import { compileSelectorRegex, normalizeModelName, selectorMatches } from '../../src/domain/sync/projections.js';

describe('binding selectors', () => {
  const models = ['gpt-4o', 'gpt-4o-mini', 'moonshot/Kimi2', ' claude-3 '];
  const cases: Array<[Parameters<typeof selectorMatches>[0], string, string[]]> = [
    ['exact', 'gpt-4o', ['gpt-4o']],
    ['exact', ' claude-3', [' claude-3 ']],
    ['exact', 'gpt', []],
    ['normalize_exact', 'KIMI2', ['moonshot/Kimi2']],
    ['normalize_exact', 'other/kimi2 ', ['moonshot/Kimi2']],
    ['regex', 'gpt-4o.*', ['gpt-4o', 'gpt-4o-mini']],
    ['regex', 'gpt-4o-m.*', ['gpt-4o-mini']],
    ['regex', 'gpt', []],
    ['regex', 'gpt-(4o', []],
  ];
  for (const [type, value, expected] of cases) {
    it(`${type} "${value}" hits ${JSON.stringify(expected)}`, () => {
      expect(selectorMatches(type, value, models)).to.deep.equal(expected);
    });
  }

  it('normalises by lower-casing, trimming and dropping the vendor path', () => {
    expect(normalizeModelName('  Moonshot/Sub/KIMI2 ')).to.equal('kimi2');
  });

  it('refuses regexes that could backtrack catastrophically, and overlong ones', () => {
    expect(compileSelectorRegex('(a+)+b')).to.equal(undefined);
    expect(compileSelectorRegex('(x*)*y')).to.equal(undefined);
    expect(compileSelectorRegex('a'.repeat(300))).to.equal(undefined);
    expect(compileSelectorRegex('gpt-4o(-mini)?')).to.be.instanceOf(RegExp);
  });
});
