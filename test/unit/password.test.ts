import { expect } from 'chai';
import { dummyPasswordHash, generatePassword, hashPassword, SCRYPT_PARAMS, verifyPassword } from '../../src/lib/password.js';

describe('password hashing (scrypt)', function () {
  this.timeout(20_000);
  const password = 'correct horse battery staple';

  it('stores scrypt$N$r$p$salt$hash with N=2^15, r=8, p=1 and a random 16-byte salt', async () => {
    const a = await hashPassword(password);
    const b = await hashPassword(password);
    const [scheme, n, r, p, salt, hash] = a.split('$');
    expect([scheme, Number(n), Number(r), Number(p)]).to.deep.equal(['scrypt', 2 ** 15, 8, 1]);
    expect(Buffer.from(salt!, 'base64')).to.have.length(16);
    expect(Buffer.from(hash!, 'base64')).to.have.length(32);
    expect(a).to.not.equal(b);
    expect(a).to.not.contain(password);
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await hashPassword(password);
    expect(await verifyPassword(password, stored)).to.equal(true);
    expect(await verifyPassword(`${password} `, stored)).to.equal(false);
    expect(await verifyPassword('', stored)).to.equal(false);
  });

  it('verifies with the parameters stored in the hash, so older cheaper hashes keep working', async () => {
    const cheap = await hashPassword(password, { N: 2 ** 10, r: 8, p: 1 });
    expect(cheap.startsWith('scrypt$1024$8$1$')).to.equal(true);
    expect(await verifyPassword(password, cheap)).to.equal(true);
  });

  it('never matches a malformed or tampered hash (and never allocates for an absurd N)', async () => {
    const stored = await hashPassword(password);
    const parts = stored.split('$');
    const cases = [
      '',
      'plain-text-password',
      `bcrypt$${parts.slice(1).join('$')}`,
      ['scrypt', 2 ** 30, ...parts.slice(2)].join('$'),
      ['scrypt', 1000, ...parts.slice(2)].join('$'),
      ['scrypt', parts[1], 0, ...parts.slice(3)].join('$'),
      [...parts.slice(0, 5), Buffer.alloc(32).toString('base64')].join('$'),
      parts.slice(0, 5).join('$'),
    ];
    for (const value of cases) expect(await verifyPassword(password, value), value).to.equal(false);
  });

  it('the dummy hash has the current parameters and is made once', async () => {
    const dummy = await dummyPasswordHash();
    expect(dummy.startsWith(`scrypt$${SCRYPT_PARAMS.N}$${SCRYPT_PARAMS.r}$${SCRYPT_PARAMS.p}$`)).to.equal(true);
    expect(await dummyPasswordHash()).to.equal(dummy);
    expect(await verifyPassword(password, dummy)).to.equal(false);
  });

  it('generates strong distinct passwords', () => {
    const seen = new Set(Array.from({ length: 20 }, generatePassword));
    expect(seen.size).to.equal(20);
    for (const p of seen) expect(p).to.match(/^[A-Za-z0-9_-]{24}$/);
  });
});
