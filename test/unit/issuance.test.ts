import { expect } from 'chai';
import { propagateAccess, checkAccess } from '../../src/domain/access.service.js';
import { checkExpiry, checkIssuance, cidrProblem, type IssuanceMaster, type IssuanceRequest } from '../../src/domain/keys.service.js';
import { AppError } from '../../src/lib/errors.js';

const master: IssuanceMaster = {
  id: 7,
  status: 'active',
  max_child_keys: 3,
  namespaces: ['default', 'team-a', 'team-b'],
  default_namespace: 'default',
  group: 'gold',
};

/** Runs fn and returns the thrown AppError's code, status-relevant field and message. */
function failure(fn: () => unknown): { code: string; field: string | undefined; message: string } | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { code: err.code, field: err.details?.[0]?.field, message: err.message };
  }
}

describe('checkIssuance', function () {
  const refusals: Array<{ name: string; master?: Partial<IssuanceMaster>; count?: number; request?: IssuanceRequest; code: string; field?: string }> = [
    { name: 'a suspended master', master: { status: 'suspended' }, code: 'forbidden' },
    { name: 'a suspended master even with free slots and a bad request', master: { status: 'suspended' }, count: 0, request: { group: 'x' }, code: 'forbidden' },
    { name: 'a master whose slots are full', count: 3, code: 'conflict' },
    { name: 'a master over its limit (lowered later)', count: 5, code: 'conflict' },
    { name: 'a master with max_child_keys 0', master: { max_child_keys: 0 }, count: 0, code: 'conflict' },
    { name: "namespaces outside the master's", request: { namespaces: ['team-a', 'other'] }, code: 'validation_failed', field: 'body.namespaces' },
    { name: "a default outside the key's namespaces", request: { namespaces: ['team-a'], default_namespace: 'team-b' }, code: 'validation_failed', field: 'body.default_namespace' },
    { name: 'a default the master lacks', request: { default_namespace: 'nope' }, code: 'validation_failed', field: 'body.default_namespace' },
    { name: "a group other than the master's", request: { group: 'silver' }, code: 'validation_failed', field: 'body.group' },
  ];
  for (const row of refusals) {
    it(`refuses ${row.name} (${row.code})`, function () {
      const result = failure(() => checkIssuance({ ...master, ...row.master }, row.count ?? 0, row.request ?? {}));
      expect(result?.code).to.equal(row.code);
      if (row.field) expect(result?.field).to.equal(row.field);
    });
  }

  it('says how many keys exist and what to do when the master is full', function () {
    expect(failure(() => checkIssuance(master, 3, {}))?.message).to.match(/3 active or disabled keys \(max_child_keys 3\).*delete a key or raise max_child_keys/);
  });

  const grants: Array<{ name: string; count: number; request: IssuanceRequest; expected: { namespaces: string[]; default_namespace: string; group: string | null } }> = [
    { name: "the master's access by default", count: 0, request: {}, expected: { namespaces: ['default', 'team-a', 'team-b'], default_namespace: 'default', group: null } },
    { name: 'the last free slot', count: 2, request: {}, expected: { namespaces: ['default', 'team-a', 'team-b'], default_namespace: 'default', group: null } },
    { name: 'a subset, defaulting to its first namespace', count: 0, request: { namespaces: ['team-b', 'team-a'] }, expected: { namespaces: ['team-b', 'team-a'], default_namespace: 'team-b', group: null } },
    { name: "a subset holding the master's default", count: 0, request: { namespaces: ['team-a', 'default'] }, expected: { namespaces: ['team-a', 'default'], default_namespace: 'default', group: null } },
    { name: 'deduplicated namespaces', count: 0, request: { namespaces: ['team-a', 'team-a'] }, expected: { namespaces: ['team-a'], default_namespace: 'team-a', group: null } },
    { name: 'an explicit default', count: 0, request: { default_namespace: 'team-b' }, expected: { namespaces: ['default', 'team-a', 'team-b'], default_namespace: 'team-b', group: null } },
    { name: "the master's own group", count: 0, request: { group: 'gold' }, expected: { namespaces: ['default', 'team-a', 'team-b'], default_namespace: 'default', group: 'gold' } },
  ];
  for (const row of grants) {
    it(`grants ${row.name}`, function () {
      expect(checkIssuance(master, row.count, row.request)).to.deep.equal(row.expected);
    });
  }
});

describe('checkExpiry', function () {
  const now = new Date('2030-01-01T00:00:00Z');
  it('accepts a future instant, null and undefined', function () {
    expect(failure(() => checkExpiry(new Date('2030-01-01T00:00:01Z'), now))).to.equal(undefined);
    expect(failure(() => checkExpiry(null, now))).to.equal(undefined);
    expect(failure(() => checkExpiry(undefined, now))).to.equal(undefined);
  });
  it('refuses now and the past, naming body.expires_at', function () {
    expect(failure(() => checkExpiry(now, now))?.field).to.equal('body.expires_at');
    expect(failure(() => checkExpiry(new Date('2000-01-01T00:00:00Z'), now))?.field).to.equal('body.expires_at');
  });
});

describe('cidrProblem', function () {
  const accepted = ['10.0.0.0/8', '10.0.0.1', '10.0.0.1/32', '0.0.0.0/0', '192.168.1.0/24', '::1', '::/0', '2001:db8::/32', '2001:db8::1/128', 'fe80::/10', '::ffff:10.0.0.0/104'];
  for (const value of accepted) {
    it(`accepts ${value}`, function () {
      expect(cidrProblem(value)).to.equal(undefined);
    });
  }
  const refused: Array<[string, RegExp]> = [
    ['10.0.0.1/8', /host bits set; did you mean 10\.0\.0\.0\/8\?/],
    ['192.168.1.77/24', /did you mean 192\.168\.1\.0\/24/],
    ['2001:db8::1/32', /did you mean 2001:db8:0:0:0:0:0:0\/32/],
    ['::ffff:10.1.2.3/104', /host bits/],
    ['10.0.0.0/33', /prefix length must be 0–32/],
    ['2001:db8::/129', /prefix length must be 0–128/],
    ['10.0.0.0/-1', /prefix length/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/8/8', /prefix length/],
    ['256.0.0.1', /IPv4 or IPv6/],
    ['example.com', /IPv4 or IPv6/],
    ['', /IPv4 or IPv6/],
    ['fe80::1%eth0', /IPv4 or IPv6/],
  ];
  for (const [value, message] of refused) {
    it(`refuses ${JSON.stringify(value)}`, function () {
      expect(cidrProblem(value)).to.match(message);
    });
  }
});

describe('checkAccess', function () {
  it('deduplicates and requires the default among the namespaces', function () {
    expect(checkAccess({ namespaces: ['a', 'a', 'b'], default_namespace: 'b' })).to.deep.equal({ namespaces: ['a', 'b'], default_namespace: 'b' });
    expect(failure(() => checkAccess({ namespaces: ['a'], default_namespace: 'b' }))?.field).to.equal('body.default_namespace');
  });
});

describe('propagateAccess', function () {
  const key = (id: number, namespaces: string[], defaultNamespace: string | null) => ({ id, key_digest: `d${id}`, namespaces, default_namespace: defaultNamespace });
  const access = { namespaces: ['default', 'team-a'], default_namespace: 'default' };

  const rows: Array<{ name: string; key: ReturnType<typeof key>; change?: { namespaces: string[]; default_namespace: string | null }; emptied?: boolean }> = [
    { name: 'leaves a key already inside the set', key: key(1, ['team-a'], 'team-a') },
    { name: 'narrows a key and keeps its default', key: key(2, ['team-a', 'team-b'], 'team-a'), change: { namespaces: ['team-a'], default_namespace: 'team-a' } },
    { name: "resets a default that fell out to the master's default", key: key(3, ['default', 'team-b'], 'team-b'), change: { namespaces: ['default'], default_namespace: 'default' } },
    { name: "resets a default that fell out to the key's first namespace", key: key(4, ['team-a', 'team-b'], 'team-b'), change: { namespaces: ['team-a'], default_namespace: 'team-a' } },
    { name: 'reports a key left with nothing', key: key(5, ['team-b'], 'team-b'), emptied: true },
    { name: "leaves an inheriting key (empty = the master's)", key: key(6, [], null) },
    { name: 'clears an inheriting key whose pinned default fell out', key: key(7, [], 'team-b'), change: { namespaces: [], default_namespace: null } },
    { name: "keeps a null default the master's default satisfies", key: key(8, ['default', 'team-b'], null), change: { namespaces: ['default'], default_namespace: null } },
    { name: "pins a null default the master's default no longer satisfies", key: key(9, ['team-a', 'team-b'], null), change: { namespaces: ['team-a'], default_namespace: 'team-a' } },
  ];
  for (const row of rows) {
    it(row.name, function () {
      const { changes, emptied } = propagateAccess([row.key], access);
      expect(emptied).to.deep.equal(row.emptied ? [row.key.id] : []);
      expect(changes).to.deep.equal(row.change ? [{ id: row.key.id, digest: row.key.key_digest, ...row.change }] : []);
    });
  }
});
