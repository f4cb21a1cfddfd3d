import { expect } from 'chai';
import { SecretBox } from '../../src/lib/secret-box.js';
import { secretAad } from '../../src/domain/providers.service.js';
import { testEnv } from '../support/hooks.js';
import { startMockOAuth, type MockOAuth } from '../support/mock-oauth.js';
import { createProviderGroup } from './fixtures.js';
import { EZ_SECRET, useTestApi, type ErrorJson } from './helpers.js';

interface RefreshReply {
  id: number;
  outcome: string;
  detail: string;
  status: string;
  access_token_expires_at: string | null;
  last_refresh_at: string | null;
  refresh_error: string | null;
  refresh_failure_count: number;
}

describe('POST /admin/api-keys/:id/refresh', () => {
  const api = useTestApi('oauth-refresh');
  const { call } = api;
  const box = new SecretBox(EZ_SECRET);
  let mock: MockOAuth;

  before(async () => {
    mock = await startMockOAuth();
    // The api's configuration object is the process's; point Claude Code at the mock.
    api.deps.config.oauth.types['claude-code'].tokenUrl = `${mock.url}/claude-code`;
  });
  after(async () => {
    await mock.close();
  });
  beforeEach(() => {
    mock.requests.length = 0;
    mock.script = [];
  });

  const oauthKey = async (body: Record<string, unknown> = {}) => {
    const group = await createProviderGroup(api, { name: 'claude-sub', type: 'claude-code' });
    const reply = await call<{ id: number; has_refresh_token: boolean; access_token_expires_at: string | null; account_id: string | null }>('POST', '/admin/api-keys', {
      group_id: group.id,
      refresh_token: 'rt-admin-PLAINTEXT-1',
      access_token_expires_at: '2030-01-01T00:00:00Z',
      account_id: 'acct-given',
      ...body,
    });
    expect(reply.status, reply.text).to.equal(201);
    return reply.body;
  };

  it('admins can set a refresh token, the access token expiry and the account id on an OAuth key', async () => {
    const key = await oauthKey();
    expect(key).to.include({ has_refresh_token: true, account_id: 'acct-given', access_token_expires_at: '2030-01-01T00:00:00.000Z' });
    const patched = await call<{ access_token_expires_at: string | null; refresh_error: string | null }>('PATCH', `/admin/api-keys/${key.id}`, {
      refresh_token: 'rt-admin-PLAINTEXT-2',
      access_token_expires_at: null,
    });
    expect(patched.status, patched.text).to.equal(200);
    expect(patched.body.access_token_expires_at).to.equal(null);
    expect(patched.text).to.not.include('PLAINTEXT');
  });

  it('refuses the OAuth fields on a non-OAuth key, naming the field', async () => {
    const group = await createProviderGroup(api, { name: 'oa', type: 'openai', base_url: 'https://api.openai.com/v1' });
    const reply = await call<ErrorJson>('POST', '/admin/api-keys', { group_id: group.id, api_key: 'sk-plain-0123456789abcdef', account_id: 'x' });
    expect(reply.status).to.equal(400);
    expect(reply.body.error.details?.map((d) => d.field)).to.deep.equal(['body.account_id']);
  });

  it('404 for an unknown key', async () => {
    const reply = await call<ErrorJson>('POST', '/admin/api-keys/999999/refresh');
    expect(reply.status).to.equal(404);
    expect(reply.body.error.code).to.equal('not_found');
  });

  it('400 not_oauth for a non-OAuth type or a key without a refresh token', async () => {
    const group = await createProviderGroup(api, { name: 'oa', type: 'openai', base_url: 'https://api.openai.com/v1' });
    const plain = await call<{ id: number }>('POST', '/admin/api-keys', { group_id: group.id, api_key: 'sk-plain-0123456789abcdef' });
    let reply = await call<ErrorJson>('POST', `/admin/api-keys/${plain.body.id}/refresh`);
    expect(reply.status).to.equal(400);
    expect(reply.body.error.code).to.equal('not_oauth');

    const claude = await createProviderGroup(api, { name: 'claude-at', type: 'claude-code' });
    const accessOnly = await call<{ id: number }>('POST', '/admin/api-keys', { group_id: claude.id, api_key: 'access-token-only-0123456789' });
    reply = await call<ErrorJson>('POST', `/admin/api-keys/${accessOnly.body.id}/refresh`);
    expect(reply.status).to.equal(400);
    expect(reply.body.error.code).to.equal('not_oauth');
    expect(mock.requests).to.have.length(0);
  });

  it('200: refreshes now and answers the new expiry and status, never a token', async () => {
    const key = await oauthKey();
    mock.script = [{ status: 200, body: { access_token: 'fresh-ACCESS-token', refresh_token: 'fresh-REFRESH-token', expires_in: 28_800 } }];
    const before = Date.now();
    const reply = await call<RefreshReply>('POST', `/admin/api-keys/${key.id}/refresh`);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.body).to.include({ id: key.id, outcome: 'refreshed', status: 'active', refresh_error: null, refresh_failure_count: 0 });
    expect(Date.parse(reply.body.access_token_expires_at!)).to.be.within(before + 28_800_000 - 2_000, Date.now() + 28_800_000 + 2_000);
    expect(reply.text).to.not.match(/fresh-ACCESS|fresh-REFRESH|PLAINTEXT/);
    expect(mock.requests).to.have.length(1);
    expect(mock.requests[0]!.fields.refresh_token).to.equal('rt-admin-PLAINTEXT-1');

    const row = (await testEnv().knex('api_keys').where({ id: key.id }).first()) as { id: number; secret_ciphertext: Buffer; secret_nonce: Buffer; key_version: number };
    expect(box.open({ ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, keyVersion: row.key_version }, secretAad(row.id))).to.equal('fresh-ACCESS-token');
    const audit = await testEnv().knex('audit_events').where({ action: 'api_key.oauth_refresh', object_id: String(key.id) }).first();
    expect(audit).to.include({ actor_type: 'admin' });
    expect((await testEnv().knex('sync_outbox').where({ resource: 'routing' })).length).to.be.greaterThan(0);
  });

  it('200 with outcome disabled when the token endpoint refuses the refresh token', async () => {
    const key = await oauthKey();
    mock.script = [{ status: 400, body: { error: 'invalid_grant' } }];
    const reply = await call<RefreshReply>('POST', `/admin/api-keys/${key.id}/refresh`);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.body).to.include({ outcome: 'disabled', status: 'auto_disabled', refresh_error: 'token endpoint answered 400 (invalid_grant)' });
  });
});
