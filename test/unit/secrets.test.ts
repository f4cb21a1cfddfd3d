import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/lib/config.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { deriveSubkey, resolveSecrets, safeEqual, SUBKEY_PURPOSES } from '../../src/lib/secrets.js';

describe('secrets', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ez-secrets-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('derives a distinct, stable 32-byte subkey per purpose', () => {
    const keys = SUBKEY_PURPOSES.map((p) => deriveSubkey('s'.repeat(40), p).toString('hex'));
    expect(new Set(keys).size).to.equal(SUBKEY_PURPOSES.length);
    expect(deriveSubkey('s'.repeat(40), 'key-digest').toString('hex')).to.equal(keys[0]);
    expect(deriveSubkey('t'.repeat(40), 'key-digest').toString('hex')).to.not.equal(keys[0]);
    expect(deriveSubkey('s'.repeat(40), 'jwt-signing')).to.have.length(32);
  });

  it('generates a dev secret and admin token once and keeps them under the data directory', () => {
    const config = loadConfig({ env: {}, cwd: dir });
    const first = resolveSecrets(config);
    const second = resolveSecrets(config);
    expect(first.generated).to.deep.equal(['EZ_SECRET', 'EZ_ADMIN_TOKEN']);
    expect(second.master).to.equal(first.master);
    expect(second.adminToken).to.equal(first.adminToken);
    expect(first.adminToken).to.match(/^ezadm_/);
    const file = path.join(dir, '.data', 'secrets', 'ez-secret');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
  });

  it('never writes secrets to disk in production and derives the internal token from EZ_SECRET', () => {
    const env = { EZ_ENV: 'production', EZ_SECRET: 'p'.repeat(48), EZ_ADMIN_TOKEN: 'admin-token-0123456789' };
    const sut = resolveSecrets(loadConfig({ env, cwd: dir }));
    expect(existsSync(path.join(dir, '.data'))).to.equal(false);
    expect(sut.adminToken).to.equal('admin-token-0123456789');
    expect(sut.internalToken).to.equal(resolveSecrets(loadConfig({ env, cwd: dir })).internalToken);
    expect(sut.generated).to.deep.equal([]);
  });

  it('compares tokens in constant time with the right answer', () => {
    expect(safeEqual('abc', 'abc')).to.equal(true);
    expect(safeEqual('abc', 'abd')).to.equal(false);
    expect(safeEqual('abc', 'abcd')).to.equal(false);
    expect(safeEqual('', '')).to.equal(true);
  });

  it('digests a client key the same way for every process sharing EZ_SECRET', () => {
    const a = new KeyDigester('m'.repeat(40)).digest('ezk_example');
    expect(a).to.match(/^[0-9a-f]{64}$/);
    expect(new KeyDigester('m'.repeat(40)).digest('ezk_example')).to.equal(a);
    expect(new KeyDigester('n'.repeat(40)).digest('ezk_example')).to.not.equal(a);
  });
});
