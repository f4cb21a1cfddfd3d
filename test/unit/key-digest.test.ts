import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { deriveSubkey } from '../../src/lib/secrets.js';

describe('KeyDigester', () => {
  const secret = 's'.repeat(40);
  const expected = (key: string) => createHmac('sha256', deriveSubkey(secret, 'key-digest')).update(key, 'utf8').digest('hex');

  it('is HMAC-SHA256 under the key-digest subkey, hex', () => {
    expect(new KeyDigester(secret).digest('sk-ez-abc')).to.equal(expected('sk-ez-abc'));
  });

  it('answers the same digests with a cache, and keeps at most cacheSize keys', () => {
    const cached = new KeyDigester(secret, { cacheSize: 3 });
    const keys = ['k-one-1234', 'k-two-1234', 'k-three-123', 'k-four-1234', 'k-one-1234', 'k-two-1234'];
    for (let round = 0; round < 3; round++) for (const key of keys) expect(cached.digest(key)).to.equal(expected(key));
    expect((cached as unknown as { cache: Map<string, string> }).cache.size).to.equal(3);
  });

  it('different secrets give different digests (a cache never crosses instances)', () => {
    const a = new KeyDigester(secret, { cacheSize: 10 });
    const b = new KeyDigester('t'.repeat(40), { cacheSize: 10 });
    expect(a.digest('sk-ez-same')).to.not.equal(b.digest('sk-ez-same'));
  });
});
