import { expect } from 'chai';
import { isSensitiveField, REDACTED, REQUEST_BODY_LOG_LIMIT_BYTES, requestBodyForLog } from '../../../src/gateway/proxy/request-body-log.js';

describe(requestBodyForLog.name, () => {
  describe(isSensitiveField.name, () => {
    const table: Array<[string, boolean]> = [
      ['api_key', true],
      ['apiKey', true],
      ['x-api-key', true],
      ['Authorization', true],
      ['password', true],
      ['client_secret', true],
      ['secret', true],
      ['token', true],
      ['access_token', true],
      ['accessToken', true],
      ['refresh_token', true],
      ['max_tokens', false],
      ['max_completion_tokens', false],
      ['prompt_tokens', false],
      ['token_count', false],
      ['messages', false],
      ['model', false],
      ['secretary', false],
    ];
    for (const [name, sensitive] of table) {
      it(`${name} → ${sensitive ? 'blanked' : 'kept'}`, () => expect(isSensitiveField(name)).to.equal(sensitive));
    }
  });

  const table: Array<[name: string, raw: string, expected: string]> = [
    ['a plain body is kept byte for byte', '{"model":"m", "messages":[{"role":"user","content":"hi"}]}', '{"model":"m", "messages":[{"role":"user","content":"hi"}]}'],
    ['credential fields are blanked at any depth', '{"model":"m","metadata":{"api_key":"abc","nested":[{"password":"p"}]},"max_tokens":5}', `{"model":"m","metadata":{"api_key":"${REDACTED}","nested":[{"password":"${REDACTED}"}]},"max_tokens":5}`],
    ['secrets inside text are redacted by pattern', '{"messages":[{"role":"user","content":"my key is sk-proj-abcdefghijklmnop1234 ok"}]}', '{"messages":[{"role":"user","content":"my key is [REDACTED] ok"}]}'],
    ['bearer tokens in text are redacted', '{"content":"Authorization: Bearer abcdefghijklmnop"}', '{"content":"Authorization: Bearer[REDACTED]"}'],
    ['text that is not JSON is blanked pair by pair', '{"token": "t0p", "model": "m", ', `{"token": "${REDACTED}", "model": "m", `],
    ['our own keys are redacted', 'ezk_client-key-1234567890 and ezm_master-1234567890', '[REDACTED] and [REDACTED]'],
  ];
  for (const [name, raw, expected] of table) {
    it(name, () => {
      expect(requestBodyForLog(Buffer.from(raw))).to.equal(expected);
    });
  }

  it('uses the parsed body when given, instead of parsing again', () => {
    const parsed = { model: 'm', secret: 'x' };
    expect(requestBodyForLog(Buffer.from('{"model":"m","secret":"x"}'), parsed)).to.equal(`{"model":"m","secret":"${REDACTED}"}`);
  });

  it('caps a large body at the limit, marker included, and says how big it was', () => {
    const raw = JSON.stringify({ model: 'm', input: 'a'.repeat(40_000) });
    const out = requestBodyForLog(raw);
    expect(Buffer.byteLength(out)).to.be.at.most(REQUEST_BODY_LOG_LIMIT_BYTES);
    expect(Buffer.byteLength(out)).to.be.above(REQUEST_BODY_LOG_LIMIT_BYTES - 64);
    expect(out).to.match(/…\[truncated: \d+ bytes\]$/);
    expect(out).to.include(`[truncated: ${Buffer.byteLength(raw)} bytes]`);
  });

  it('never splits a multi-byte character at the cut', () => {
    const out = requestBodyForLog('€'.repeat(1_000), undefined, { maxBytes: 100 });
    expect(out).to.not.include('\uFFFD');
    expect(Buffer.byteLength(out)).to.be.at.most(100);
  });

  it('a secret straddling the cut leaves no fragment behind', () => {
    const secret = `sk-proj-${'Z'.repeat(60)}`;
    const raw = `${'a'.repeat(80)} ${secret} ${'b'.repeat(5_000)}`;
    const out = requestBodyForLog(raw, undefined, { maxBytes: 120 });
    expect(out).to.not.include('ZZZZ');
    expect(out).to.not.include('sk-proj');
  });

  it('a body that grows past the cap when blanked is still capped', () => {
    const raw = JSON.stringify({ a: Array.from({ length: 40 }, () => ({ token: 'x' })) });
    const out = requestBodyForLog(raw, undefined, { maxBytes: raw.length });
    expect(Buffer.byteLength(out)).to.be.at.most(raw.length);
    expect(out).to.include('[truncated:');
  });

  it('a body too deep to re-serialize falls back to blanking pairs in the text', () => {
    const deep = `{"token":"abc","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const out = requestBodyForLog(deep, undefined, { maxDepth: 100_000 });
    expect(out).to.not.include('"abc"');
    expect(out.startsWith(`{"token":"${REDACTED}"`)).to.equal(true);
  });
});
