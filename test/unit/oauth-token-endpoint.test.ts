import { expect } from 'chai';
import { loadConfig } from '../../src/lib/config.js';
import { oauthClient } from '../../src/domain/oauth/oauth-clients.js';
import { classifyTokenResponse, tokenRequestBody } from '../../src/domain/oauth/token-endpoint.js';
import { effectiveLeadMs } from '../../src/domain/oauth/token-refresh.service.js';
import { tmpdir } from 'node:os';

const now = new Date('2026-01-01T00:00:00Z');
const jwt = (claims: Record<string, unknown>) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;

describe('OAuth token endpoint answers', () => {
  const cases: Array<{ name: string; status: number; body: unknown; kind: string; reason?: string }> = [
    { name: '200 with an access token', status: 200, body: { access_token: 'a', expires_in: 60 }, kind: 'ok' },
    { name: '200 without an access token', status: 200, body: { token_type: 'Bearer' }, kind: 'retryable', reason: 'token endpoint answered 200 without an access_token' },
    { name: '400 invalid_grant', status: 400, body: { error: 'invalid_grant', error_description: 'rt-SECRET revoked' }, kind: 'rejected', reason: 'token endpoint answered 400 (invalid_grant)' },
    { name: '401 with no code', status: 401, body: 'nope', kind: 'rejected', reason: 'token endpoint answered 401' },
    { name: '403 unauthorized_client', status: 403, body: { error: 'unauthorized_client' }, kind: 'rejected', reason: 'token endpoint answered 403 (unauthorized_client)' },
    { name: 'Anthropic-style error object', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'x' } }, kind: 'rejected', reason: 'token endpoint answered 400 (invalid_request_error)' },
    { name: '429', status: 429, body: {}, kind: 'retryable', reason: 'token endpoint answered 429' },
    { name: '503 HTML', status: 503, body: '<html>down</html>', kind: 'retryable', reason: 'token endpoint answered 503' },
    { name: '403 from a WAF page', status: 403, body: '<html>blocked</html>', kind: 'retryable', reason: 'token endpoint answered 403' },
    { name: 'an error code that is not a plain code is not echoed', status: 500, body: { error: 'rt-SECRET value with spaces' }, kind: 'retryable', reason: 'token endpoint answered 500' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = classifyTokenResponse(c.status, typeof c.body === 'string' ? c.body : JSON.stringify(c.body), now);
      expect(outcome.kind).to.equal(c.kind);
      if (c.reason) expect(outcome).to.have.property('reason', c.reason);
    });
  }

  it('expiry: expires_in, else the JWT exp, else one hour; account ids from Codex id_token and Claude account', () => {
    const a = classifyTokenResponse(200, JSON.stringify({ access_token: 'a', expires_in: '120' }), now);
    const exp = Math.floor(now.getTime() / 1_000) + 600;
    const b = classifyTokenResponse(200, JSON.stringify({ access_token: jwt({ exp }), id_token: jwt({ 'https://api.openai.com/auth': { chatgpt_account_id: 'acc-x' } }) }), now);
    const c = classifyTokenResponse(200, JSON.stringify({ access_token: 'opaque', account: { uuid: 'claude-acc' } }), now);
    expect(a.kind === 'ok' && a.tokens.expiresAt.getTime()).to.equal(now.getTime() + 120_000);
    expect(b.kind === 'ok' && b.tokens.expiresAt.getTime()).to.equal(exp * 1_000);
    expect(b.kind === 'ok' && b.tokens.accountId).to.equal('acc-x');
    expect(c.kind === 'ok' && c.tokens.expiresAt.getTime()).to.equal(now.getTime() + 3_600_000);
    expect(c.kind === 'ok' && c.tokens.accountId).to.equal('claude-acc');
    expect(c.kind === 'ok' && c.tokens.refreshToken).to.equal(null);
  });

  it('request bodies: form for Codex and Google (with the configured secret), JSON for Claude Code', () => {
    const config = loadConfig({ env: { EZ_ENV: 'test', EZ_OAUTH_CLIENT_SECRET_GEMINI_CLI: 'gsecret' }, cwd: tmpdir() });
    const codex = tokenRequestBody(oauthClient(config.oauth, 'codex'), 'r1');
    expect(codex.contentType).to.equal('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(codex.body))).to.deep.equal({ grant_type: 'refresh_token', refresh_token: 'r1', client_id: 'app_EMoamEEZ73f0CkXaXp7hrann', scope: 'openid profile email' });
    const claude = tokenRequestBody(oauthClient(config.oauth, 'claude-code'), 'r2');
    expect(claude.contentType).to.equal('application/json');
    expect(JSON.parse(claude.body)).to.deep.equal({ grant_type: 'refresh_token', refresh_token: 'r2', client_id: '9d1c250a-e61b-44d9-88ed-5944d1962f5e' });
    const gemini = tokenRequestBody(oauthClient(config.oauth, 'gemini-cli'), 'r3');
    expect(new URLSearchParams(gemini.body).get('client_secret')).to.equal('gsecret');
    expect(oauthClient(config.oauth, 'antigravity').clientSecret).to.equal(undefined);
    expect(config.oauth.types.codex.leadMs).to.equal(86_400_000);
    expect(config.oauth.types['claude-code'].leadMs).to.equal(14_400_000);
    expect(config.oauth.types['gemini-cli'].leadMs).to.equal(300_000);
  });

  it('the lead time is capped at half the token lifetime', () => {
    const expires = new Date(now.getTime() + 3_600_000);
    expect(effectiveLeadMs(86_400_000, null, expires)).to.equal(86_400_000);
    expect(effectiveLeadMs(86_400_000, now, expires)).to.equal(1_800_000);
    expect(effectiveLeadMs(300_000, now, expires)).to.equal(300_000);
  });
});
