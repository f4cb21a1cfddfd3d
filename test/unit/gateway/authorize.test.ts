import { expect } from 'chai';
import { checkKey, effectiveNamespaces, ipAllowed, modelAllowed, normalizeIp, scopeAllows } from '../../../src/gateway/auth/authorize.js';
import type { TokenView } from '../../../src/gateway/auth/token-cache.js';
import type { MasterView } from '../../../src/gateway/config/replica.js';

const now = Date.parse('2026-11-22T12:00:00Z');
const token = (extra: Partial<TokenView> = {}): TokenView => ({
  id: 1,
  masterId: 7,
  status: 'active',
  issuedAtEpoch: 2,
  expiresAt: null,
  group: '',
  scopes: ['chat:*'],
  namespaces: [],
  defaultNamespace: '',
  modelLimitsEnabled: false,
  modelLimits: [],
  allowIps: [],
  quotaLimit: -1,
  quotaUsed: 0,
  budgets: {},
  spendLimited: false,
  rpmLimit: 0,
  tpmLimit: 0,
  ...extra,
});
const master = (extra: Partial<MasterView> = {}): MasterView => ({
  id: 7,
  name: 'm',
  status: 'active',
  epoch: 2,
  group: 'default',
  globalQps: 0,
  namespaces: ['default', 'team'],
  defaultNamespace: 'default',
  quotaLimit: -1,
  quotaUsed: 0,
  budgets: {},
  spendLimited: false,
  ...extra,
});

describe('gateway key checks', () => {
  const cases: Array<[string, TokenView, MasterView | undefined, string | undefined, ReturnType<typeof checkKey>]> = [
    ['an active key of an active master', token(), master(), '10.1.2.3', undefined],
    ['a disabled key', token({ status: 'disabled' }), master(), undefined, 'key_inactive'],
    // Exhausted is answered 429 insufficient_quota, but only once every other check passed.
    ['an exhausted key', token({ status: 'exhausted' }), master(), undefined, 'key_exhausted'],
    ['an exhausted key of a suspended master', token({ status: 'exhausted' }), master({ status: 'suspended' }), undefined, 'master_inactive'],
    ['an exhausted key issued before the last revoke', token({ status: 'exhausted', issuedAtEpoch: 1 }), master({ epoch: 2 }), undefined, 'epoch_revoked'],
    ['an expired key', token({ expiresAt: now - 1 }), master(), undefined, 'key_expired'],
    ['a key expiring later', token({ expiresAt: now + 1 }), master(), undefined, undefined],
    ['a key whose master is gone', token(), undefined, undefined, 'master_missing'],
    ['a suspended master', token(), master({ status: 'suspended' }), undefined, 'master_inactive'],
    ['a key issued before the last revoke', token({ issuedAtEpoch: 1 }), master({ epoch: 2 }), undefined, 'epoch_revoked'],
    ['an IP outside the allow list', token({ allowIps: ['10.0.0.0/8'] }), master(), '192.168.1.1', 'ip_not_allowed'],
    ['an IP inside the allow list (IPv4-mapped)', token({ allowIps: ['10.0.0.0/8'] }), master(), '::ffff:10.9.9.9', undefined],
    ['an allow list without a known client IP', token({ allowIps: ['10.0.0.1/32'] }), master(), undefined, 'ip_not_allowed'],
  ];
  for (const [name, t, m, ip, expected] of cases) {
    it(`${name} → ${expected ?? 'allowed'}`, () => {
      expect(checkKey(t, m, now, ip)).to.equal(expected);
    });
  }

  it('matches IPv6 ranges and single addresses', () => {
    expect(ipAllowed(['2001:db8::/32'], '2001:db8::1')).to.equal(true);
    expect(ipAllowed(['2001:db8::/32'], '2001:db9::1')).to.equal(false);
    expect(ipAllowed(['127.0.0.1'], '127.0.0.1')).to.equal(true);
    expect(normalizeIp('::ffff:127.0.0.1')).to.equal('127.0.0.1');
  });

  it('scopes allow their family, a wildcard allows all, and listing models needs any scope', () => {
    expect(scopeAllows(['chat:*'], 'chat')).to.equal(true);
    expect(scopeAllows(['chat:*'], 'embeddings')).to.equal(false);
    expect(scopeAllows(['*'], 'embeddings')).to.equal(true);
    expect(scopeAllows(['embeddings:create'], 'embeddings')).to.equal(true);
    expect(scopeAllows([], 'models')).to.equal(false);
    expect(scopeAllows(['completions:*'], 'models')).to.equal(true);
  });

  it("a key's namespaces default to the master's and never exceed them", () => {
    expect(effectiveNamespaces(token(), master())).to.deep.equal(['default', 'team']);
    expect(effectiveNamespaces(token({ namespaces: ['team', 'gone'] }), master())).to.deep.equal(['team']);
  });

  it('model limits accept bare and namespace-qualified names', () => {
    const limited = token({ modelLimitsEnabled: true, modelLimits: ['gpt-4o', 'team.claude'] });
    expect(modelAllowed(limited, 'default', 'gpt-4o')).to.equal(true);
    expect(modelAllowed(limited, 'team', 'claude')).to.equal(true);
    expect(modelAllowed(limited, 'default', 'claude')).to.equal(false);
    expect(modelAllowed(token(), 'default', 'anything')).to.equal(true);
  });
});
