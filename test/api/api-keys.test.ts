import { expect } from 'chai';
import { SecretBox } from '../../src/lib/secret-box.js';
import type { ApiKeyDto } from '../../src/domain/providers.service.js';
import { testEnv } from '../support/hooks.js';
import { createProviderGroup } from './fixtures.js';
import { ADMIN_TOKEN, bearer, EZ_SECRET, expectFieldError, useTestApi, type ErrorJson, type Page } from './helpers.js';

type ApiKey = Omit<ApiKeyDto, 'ban_until' | 'created_at' | 'updated_at'> & { ban_until: string | null; created_at: string; updated_at: string };
interface KeyRow {
  id: number;
  secret_ciphertext: Buffer | null;
  secret_nonce: Buffer | null;
  key_version: number;
  refresh_token_ciphertext: Buffer | null;
  refresh_token_nonce: Buffer | null;
}

const SECRET = 'sk-live-PLAINTEXT-0123456789abcdefghij';
const OTHER_SECRET = 'sk-live-REPLACED-9876543210zyxwvutsrq';

describe('admin upstream api keys (/admin/api-keys)', () => {
  const api = useTestApi('api-keys');
  const { call } = api;
  let groupId: number;
  const box = new SecretBox(EZ_SECRET);

  beforeEach(async () => {
    groupId = (await createProviderGroup(api, { name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1' })).id;
  });

  const createKey = async (over: Record<string, unknown> = {}): Promise<ApiKey> => {
    const reply = await call<ApiKey>('POST', '/admin/api-keys', { group_id: groupId, api_key: SECRET, ...over });
    expect(reply.status, reply.text).to.equal(201);
    expect(reply.text).to.not.include(SECRET);
    return reply.body;
  };
  const keyRow = async (id: number): Promise<KeyRow> => (await testEnv().knex('api_keys').where('id', id).first()) as KeyRow;
  const routingRows = async () => (await testEnv().knex('sync_outbox').where({ resource: 'routing', action: 'upsert' }).count<Array<{ n: number }>>('* as n'))[0]!.n;
  // Untyped rows: the tests read metadata fields freely.
  const auditRows = async () => testEnv().knex('audit_events').select('*').orderBy('id');

  describe('POST', () => {
    it('stores the secret encrypted under an AAD bound to the row, and answers it masked', async () => {
      const before = Number(await routingRows());
      const key = await createKey({ name: 'team-a', weight: 5 });
      expect(key).to.include({
        group_id: groupId,
        name: 'team-a',
        api_key_masked: 'sk-l…ghij',
        secret_state: 'ok',
        has_refresh_token: false,
        weight: 5,
        status: 'active',
        auto_ban: true,
        ban_until: null,
      });
      expect(key).to.not.have.property('secret_ciphertext');
      expect(key).to.not.have.property('secret_nonce');

      const row = await keyRow(key.id);
      expect(row.secret_ciphertext).to.be.instanceOf(Buffer);
      expect(row.secret_ciphertext!.includes(Buffer.from(SECRET))).to.equal(false);
      expect(row.secret_ciphertext!.toString('latin1')).to.not.include('PLAINTEXT');
      expect(row.secret_nonce).to.have.length(12);
      expect(row.key_version).to.equal(1);
      const sealed = { ciphertext: row.secret_ciphertext!, nonce: row.secret_nonce!, keyVersion: row.key_version };
      expect(box.open(sealed, SecretBox.aad('api_keys', key.id, 'secret'))).to.equal(SECRET);
      expect(() => box.open(sealed, SecretBox.aad('api_keys', key.id + 1, 'secret'))).to.throw();

      expect(Number(await routingRows())).to.equal(before + 1);
      const event = (await auditRows()).at(-1);
      expect(event).to.include({ action: 'api_key.create', object_type: 'api_key', object_id: String(key.id), actor_id: 'bootstrap' });
      expect(event.metadata).to.deep.equal({ group_id: groupId, name: 'team-a', weight: 5, status: 'active' });
    });

    it('defaults name, weight, status and auto_ban, and trims a pasted secret', async () => {
      const key = await createKey({ api_key: `  ${SECRET}\n` });
      expect(key).to.include({ name: '', weight: 1, status: 'active', auto_ban: true });
      const reveal = await call<{ api_key: string }>('GET', `/admin/api-keys/${key.id}/reveal`);
      expect(reveal.body.api_key).to.equal(SECRET);
    });

    it('accepts a refresh token instead of a secret for OAuth types, encrypted under its own AAD', async () => {
      const codex = await call<{ id: number }>('POST', '/admin/provider-groups', { name: 'codex', type: 'codex' });
      const reply = await call<ApiKey>('POST', '/admin/api-keys', { group_id: codex.body.id, refresh_token: 'rt-PLAINTEXT-refresh-token-0123456789' });
      expect(reply.status, reply.text).to.equal(201);
      expect(reply.text).to.not.include('rt-PLAINTEXT');
      expect(reply.body).to.include({ secret_state: 'missing', api_key_masked: null, has_refresh_token: true });
      const row = await keyRow(reply.body.id);
      expect(row.secret_ciphertext).to.equal(null);
      const sealed = { ciphertext: row.refresh_token_ciphertext!, nonce: row.refresh_token_nonce!, keyVersion: row.key_version };
      expect(box.open(sealed, SecretBox.aad('api_keys', reply.body.id, 'refresh_token'))).to.equal('rt-PLAINTEXT-refresh-token-0123456789');
      expect(() => box.open(sealed, SecretBox.aad('api_keys', reply.body.id, 'secret'))).to.throw();
      // Nothing to reveal yet.
      const reveal = await call<ErrorJson>('GET', `/admin/api-keys/${reply.body.id}/reveal`);
      expect(reveal.status).to.equal(409);
      expect(reveal.body.error.code).to.equal('conflict');
      // An OAuth group still needs one of the two.
      expectFieldError(await call('POST', '/admin/api-keys', { group_id: codex.body.id }), 'body.api_key');
    });

    it('refuses bad input, naming the field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ api_key: SECRET }, 'body.group_id'],
        [{ group_id: String(groupId), api_key: SECRET }, 'body.group_id'],
        [{ group_id: -1, api_key: SECRET }, 'body.group_id'],
        [{ group_id: groupId }, 'body.api_key'],
        [{ group_id: groupId, api_key: '   ' }, 'body.api_key'],
        [{ group_id: groupId, api_key: 12345 }, 'body.api_key'],
        [{ group_id: groupId, api_key: SECRET, refresh_token: 'rt-1' }, 'body.refresh_token'],
        [{ group_id: groupId, api_key: SECRET, weight: 1_001 }, 'body.weight'],
        [{ group_id: groupId, api_key: SECRET, weight: -1 }, 'body.weight'],
        [{ group_id: groupId, api_key: SECRET, weight: 1.5 }, 'body.weight'],
        [{ group_id: groupId, api_key: SECRET, status: 'auto_disabled' }, 'body.status'],
        [{ group_id: groupId, api_key: SECRET, status: 'on' }, 'body.status'],
        [{ group_id: groupId, api_key: SECRET, auto_ban: 'yes' }, 'body.auto_ban'],
        [{ group_id: groupId, api_key: SECRET, name: 7 }, 'body.name'],
        [{ group_id: groupId, api_key: SECRET, secret_ciphertext: 'x' }, 'body'],
      ];
      for (const [body, field] of cases) {
        const reply = await call('POST', '/admin/api-keys', body);
        expectFieldError(reply, field);
        expect(reply.text).to.not.include(SECRET);
      }
      expect(await testEnv().knex('api_keys').select('id')).to.have.length(0);
    });

    it('refuses an unknown group, naming body.group_id', async () => {
      const reply = await call('POST', '/admin/api-keys', { group_id: 987654, api_key: SECRET });
      expectFieldError(reply, 'body.group_id');
    });
  });

  describe('GET', () => {
    it('lists and gets keys masked, never in plaintext', async () => {
      const a = await createKey();
      const list = await call<Page<ApiKey>>('GET', '/admin/api-keys');
      expect(list.status).to.equal(200);
      expect(list.text).to.not.include(SECRET);
      expect(list.body.data.map((k) => k.api_key_masked)).to.deep.equal(['sk-l…ghij']);
      const one = await call<ApiKey>('GET', `/admin/api-keys/${a.id}`);
      expect(one.status).to.equal(200);
      expect(one.text).to.not.include(SECRET);
      expect(one.body).to.deep.equal(a);
    });

    it('filters by group_id and status, with pagination', async () => {
      const other = await call<{ id: number }>('POST', '/admin/provider-groups', { name: 'anthropic', type: 'anthropic', base_url: 'https://api.anthropic.com' });
      const k1 = await createKey();
      const k2 = await createKey({ status: 'disabled' });
      const k3 = await createKey({ group_id: other.body.id });
      const ids = async (query: string) => (await call<Page<ApiKey>>('GET', `/admin/api-keys?${query}`)).body.data.map((k) => k.id);
      expect(await ids('')).to.deep.equal([k3.id, k2.id, k1.id]);
      expect(await ids(`group_id=${groupId}`)).to.deep.equal([k2.id, k1.id]);
      expect(await ids(`group_id=${other.body.id}`)).to.deep.equal([k3.id]);
      expect(await ids('status=disabled')).to.deep.equal([k2.id]);
      expect(await ids(`status=active&group_id=${groupId}`)).to.deep.equal([k1.id]);
      expect(await ids('group_id=999999')).to.deep.equal([]);
      const page = await call<Page<ApiKey>>('GET', '/admin/api-keys?limit=1&offset=1');
      expect(page.body.pagination).to.deep.equal({ limit: 1, offset: 1, total: 3 });
      expect(page.body.data.map((k) => k.id)).to.deep.equal([k2.id]);
    });

    it('refuses bad filters and answers 404 for an unknown id', async () => {
      expectFieldError(await call('GET', '/admin/api-keys?group_id=abc'), 'query.group_id');
      expectFieldError(await call('GET', '/admin/api-keys?status=banned'), 'query.status');
      expectFieldError(await call('GET', '/admin/api-keys?limit=500'), 'query.limit');
      const missing = await call<ErrorJson>('GET', '/admin/api-keys/777');
      expect(missing.status).to.equal(404);
      expect(missing.body.error).to.deep.equal({ code: 'not_found', message: 'api key 777 not found' });
      expectFieldError(await call('GET', '/admin/api-keys/x'), 'params.id');
    });

    it('shows a key sealed under another secret as undecryptable instead of failing the list', async () => {
      const key = await createKey();
      const foreign = new SecretBox('another-secret-0123456789abcdef0123456789').seal(SECRET, SecretBox.aad('api_keys', key.id, 'secret'));
      await testEnv().knex('api_keys').where('id', key.id).update({ secret_ciphertext: foreign.ciphertext, secret_nonce: foreign.nonce });
      const list = await call<Page<ApiKey>>('GET', '/admin/api-keys');
      expect(list.status).to.equal(200);
      expect(list.body.data[0]).to.include({ secret_state: 'undecryptable', api_key_masked: null });
      expect((await call('GET', `/admin/api-keys/${key.id}/reveal`)).status).to.equal(409);
    });
  });

  describe('PATCH', () => {
    it('replaces the secret (re-encrypted with a fresh nonce) and other fields, never echoing plaintext', async () => {
      const key = await createKey();
      const before = await keyRow(key.id);
      const reply = await call<ApiKey>('PATCH', `/admin/api-keys/${key.id}`, { api_key: OTHER_SECRET, weight: 0, auto_ban: false, name: 'standby', status: 'manual_disabled' });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.text).to.not.include(OTHER_SECRET);
      expect(reply.body).to.include({ api_key_masked: 'sk-l…tsrq', weight: 0, auto_ban: false, name: 'standby', status: 'manual_disabled' });
      const after = await keyRow(key.id);
      expect(after.secret_nonce!.equals(before.secret_nonce!)).to.equal(false);
      expect(after.secret_ciphertext!.includes(Buffer.from(OTHER_SECRET))).to.equal(false);
      const reveal = await call<{ api_key: string }>('GET', `/admin/api-keys/${key.id}/reveal`);
      expect(reveal.body.api_key).to.equal(OTHER_SECRET);
      const event = (await auditRows()).find((e) => e.action === 'api_key.update');
      expect(event.metadata.changed).to.deep.equal(['auto_ban', 'name', 'secret', 'status', 'weight']);
    });

    it('clears a ban with ban_until: null and lifts auto_disabled', async () => {
      const key = await createKey();
      await testEnv()
        .knex('api_keys')
        .where('id', key.id)
        .update({ status: 'auto_disabled', ban_until: new Date(Date.now() + 3_600_000), ban_reason: 'upstream 401' });
      const banned = await call<ApiKey>('GET', `/admin/api-keys/${key.id}`);
      expect(banned.body).to.include({ status: 'auto_disabled', ban_reason: 'upstream 401' });
      const reply = await call<ApiKey>('PATCH', `/admin/api-keys/${key.id}`, { ban_until: null });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.body).to.include({ status: 'active', ban_until: null, ban_reason: null });
    });

    it('refuses bad input and unknown ids', async () => {
      const key = await createKey();
      expectFieldError(await call('PATCH', `/admin/api-keys/${key.id}`, {}), 'body');
      expectFieldError(await call('PATCH', `/admin/api-keys/${key.id}`, { weight: 'heavy' }), 'body.weight');
      expectFieldError(await call('PATCH', `/admin/api-keys/${key.id}`, { ban_until: '2030-01-01T00:00:00Z' }), 'body.ban_until');
      expectFieldError(await call('PATCH', `/admin/api-keys/${key.id}`, { status: 'auto_disabled' }), 'body.status');
      expectFieldError(await call('PATCH', `/admin/api-keys/${key.id}`, { group_id: 2 }), 'body');
      expectFieldError(await call('PATCH', `/admin/api-keys/${key.id}`, { api_key: '' }), 'body.api_key');
      expectFieldError(await call('PATCH', `/admin/api-keys/${key.id}`, { refresh_token: 'rt-x' }), 'body.refresh_token');
      const missing = await call<ErrorJson>('PATCH', '/admin/api-keys/5555', { weight: 2 });
      expect(missing.status).to.equal(404);
      expect(missing.body.error.code).to.equal('not_found');
    });
  });

  describe('DELETE', () => {
    it('deletes a key with one audit event and one outbox row; 404 afterwards', async () => {
      const key = await createKey();
      const before = Number(await routingRows());
      expect((await call('DELETE', `/admin/api-keys/${key.id}`)).status).to.equal(204);
      expect((await call('GET', `/admin/api-keys/${key.id}`)).status).to.equal(404);
      expect((await call('DELETE', `/admin/api-keys/${key.id}`)).status).to.equal(404);
      expect(Number(await routingRows())).to.equal(before + 1);
      expect((await auditRows()).filter((e) => e.action === 'api_key.delete')).to.have.length(1);
    });
  });

  describe('GET /admin/api-keys/:id/reveal', () => {
    it('returns the plaintext and writes exactly one audit event with actor, request id and ip', async () => {
      const key = await createKey();
      const outboxBefore = Number(await routingRows());
      const auditBefore = (await auditRows()).length;
      const reply = await call<{ id: number; group_id: number; api_key: string }>('GET', `/admin/api-keys/${key.id}/reveal`, undefined, {
        ...bearer(ADMIN_TOKEN),
        'x-request-id': 'reveal-req-1',
      });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.body).to.deep.equal({ id: key.id, group_id: groupId, api_key: SECRET });
      expect(reply.headers.get('cache-control')).to.equal('no-store');
      const events = await auditRows();
      expect(events).to.have.length(auditBefore + 1);
      const reveal = events.filter((e) => e.action === 'api_key.reveal');
      expect(reveal).to.have.length(1);
      expect(reveal[0]).to.include({ actor_type: 'admin', actor_id: 'bootstrap', object_type: 'api_key', object_id: String(key.id), request_id: 'reveal-req-1' });
      expect(reveal[0].ip).to.be.a('string').and.not.equal('');
      expect(JSON.stringify(reveal[0])).to.not.include(SECRET);
      // A reveal changes nothing the gateway reads: no outbox row.
      expect(Number(await routingRows())).to.equal(outboxBefore);
    });

    it('answers 404 for an unknown key and audits nothing', async () => {
      const reply = await call<ErrorJson>('GET', '/admin/api-keys/4040/reveal');
      expect(reply.status).to.equal(404);
      expect((await auditRows()).filter((e) => e.action === 'api_key.reveal')).to.have.length(0);
    });

    it('requires admin credentials', async () => {
      const key = await createKey();
      const reply = await call('GET', `/admin/api-keys/${key.id}/reveal`, undefined, {});
      expect(reply.status).to.equal(401);
      expect(reply.text).to.not.include(SECRET);
    });
  });

  it('never puts the plaintext in a create, list, get or patch response, an audit row or an outbox row', async () => {
    const bodies: string[] = [];
    const key = await call('POST', '/admin/api-keys', { group_id: groupId, api_key: SECRET });
    bodies.push(key.text);
    const id = (key.body as ApiKey).id;
    bodies.push((await call('GET', '/admin/api-keys')).text);
    bodies.push((await call('GET', `/admin/api-keys/${id}`)).text);
    bodies.push((await call('PATCH', `/admin/api-keys/${id}`, { weight: 3 })).text);
    bodies.push((await call('PATCH', `/admin/api-keys/${id}`, { api_key: OTHER_SECRET })).text);
    bodies.push((await call('GET', `/admin/provider-groups/${groupId}`)).text);
    await call('GET', `/admin/api-keys/${id}/reveal`);
    for (const body of bodies) {
      expect(body).to.not.include(SECRET);
      expect(body).to.not.include(OTHER_SECRET);
    }
    const audit = JSON.stringify(await testEnv().knex('audit_events').select('*'));
    const outbox = JSON.stringify(await testEnv().knex('sync_outbox').select('*'));
    for (const dump of [audit, outbox]) {
      expect(dump).to.not.include(SECRET);
      expect(dump).to.not.include(OTHER_SECRET);
      expect(dump).to.not.include('PLAINTEXT');
    }
  });
});
