import { expect } from 'chai';
import { CURRENT_KEY_VERSION, maskSecret, SecretBox } from '../../src/lib/secret-box.js';

describe(SecretBox.name, () => {
  const MASTER = 'unit-test-secret-0123456789abcdef0123456789';
  const SECRET = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';
  const aad = SecretBox.aad('api_keys', 7, 'secret');
  let sut: SecretBox;
  beforeEach(() => {
    sut = new SecretBox(MASTER);
  });

  it('names the row and column in the AAD', () => {
    expect(aad).to.equal('api_keys:7:secret');
  });

  it('round-trips a secret, with a 12-byte nonce and the current key version', () => {
    const sealed = sut.seal(SECRET, aad);
    expect(sealed.nonce).to.have.length(12);
    expect(sealed.keyVersion).to.equal(CURRENT_KEY_VERSION);
    expect(sut.open(sealed, aad)).to.equal(SECRET);
    expect(new SecretBox(MASTER).open(sealed, aad)).to.equal(SECRET);
  });

  it('round-trips unicode and long secrets', () => {
    const long = `{"type":"service_account","key":"${'k'.repeat(4_000)}","note":"ключ 🔑"}`;
    expect(sut.open(sut.seal(long, aad), aad)).to.equal(long);
  });

  it('never stores the plaintext in the ciphertext', () => {
    const sealed = sut.seal(SECRET, aad);
    expect(sealed.ciphertext.includes(Buffer.from(SECRET))).to.equal(false);
    expect(sealed.ciphertext.toString('utf8')).to.not.include('sk-proj');
    expect(sealed.ciphertext).to.have.length(Buffer.byteLength(SECRET) + 16);
  });

  it('uses a fresh nonce (and so a fresh ciphertext) for every seal', () => {
    const seals = Array.from({ length: 50 }, () => sut.seal(SECRET, aad));
    expect(new Set(seals.map((s) => s.nonce.toString('hex'))).size).to.equal(50);
    expect(new Set(seals.map((s) => s.ciphertext.toString('hex'))).size).to.equal(50);
  });

  it('throws when a ciphertext byte is tampered with', () => {
    const sealed = sut.seal(SECRET, aad);
    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[0] = ciphertext[0]! ^ 0x01;
    expect(() => sut.open({ ...sealed, ciphertext }, aad)).to.throw();
  });

  it('throws when the tag, the nonce or the length is tampered with', () => {
    const sealed = sut.seal(SECRET, aad);
    const tag = Buffer.from(sealed.ciphertext);
    tag[tag.length - 1] = tag[tag.length - 1]! ^ 0x80;
    expect(() => sut.open({ ...sealed, ciphertext: tag }, aad)).to.throw();
    const nonce = Buffer.from(sealed.nonce);
    nonce[3] = nonce[3]! ^ 0x01;
    expect(() => sut.open({ ...sealed, nonce }, aad)).to.throw();
    expect(() => sut.open({ ...sealed, ciphertext: sealed.ciphertext.subarray(1) }, aad)).to.throw();
  });

  it('refuses a ciphertext copied from another row or column (AAD mismatch)', () => {
    const sealed = sut.seal(SECRET, aad);
    expect(() => sut.open(sealed, SecretBox.aad('api_keys', 8, 'secret'))).to.throw();
    expect(() => sut.open(sealed, SecretBox.aad('api_keys', 7, 'refresh_token'))).to.throw();
    expect(() => sut.open(sealed, SecretBox.aad('webhooks', 7, 'secret'))).to.throw();
  });

  it('refuses to open under another master secret', () => {
    const sealed = sut.seal(SECRET, aad);
    expect(() => new SecretBox(`${MASTER}-rotated`).open(sealed, aad)).to.throw();
  });

  it('refuses an unknown key version', () => {
    const sealed = sut.seal(SECRET, aad);
    expect(() => sut.open({ ...sealed, keyVersion: 99 }, aad)).to.throw(/key_version 99/);
  });
});

describe('maskSecret', () => {
  const table: Array<[string, string]> = [
    ['sk-proj-abcdefghijklmnopqrstuvwxyz', 'sk-p…wxyz'],
    ['1234567890abc', '1234…0abc'],
    ['123456789012', '****'],
    ['short', '****'],
    ['', '****'],
  ];
  for (const [input, masked] of table) {
    it(`${JSON.stringify(input)} → ${masked}`, () => expect(maskSecret(input)).to.equal(masked));
  }
});
