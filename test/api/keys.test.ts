import { expect } from 'chai';
import { KeyDigester } from '../../src/lib/key-digest.js';
import type { KeyDto } from '../../src/domain/keys.service.js';
import { testEnv } from '../support/hooks.js';
import { audits, clearLedger, masterFixtures, outbox } from './fixtures.js';
import { EZ_SECRET, expectError, useTestApi, type Page } from './helpers.js';

interface MasterJson {
  id: number;
  key: string;
  epoch: number;
}
type KeyJson = KeyDto & { key?: string };

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

describe('admin child keys api', function () {
  const api = useTestApi('keys-api');
  const { req } = api;
  const knex = () => testEnv().knex;

  const { createMaster, issue, issueKey } = masterFixtures<MasterJson, KeyJson>(api);
  const digestOf = (key: string) => new KeyDigester(EZ_SECRET).digest(key);

  describe('POST /admin/masters/:id/keys', function () {
    it('issues a key with the defaults, returning the plaintext once and storing only its digest', async function () {
      const master = await createMaster();
      await clearLedger();
      const res = await issue(master.id, { name: 'ci' });
      expect(res.status, res.text).to.equal(201);
      const key = res.body;
      expect(key.key).to.match(/^ezk_[A-Za-z0-9_-]{43}$/);
      expect(key).to.include({
        master_id: master.id,
        name: 'ci',
        issued_by: 'admin',
        issuer_id: 'bootstrap',
        issued_at_epoch: 0,
        status: 'active',
        default_namespace: 'default',
        group: null,
        model_limits_enabled: false,
        expires_at: null,
        quota_limit: -1,
        quota_used: 0,
        rpm_limit: 0,
        tpm_limit: 0,
      });
      expect(key.scopes).to.deep.equal(['chat:*', 'completions:*']);
      expect(key.namespaces).to.deep.equal(['default']);
      expect(key.allow_ips).to.deep.equal([]);
      expect(key.key_prefix).to.equal(key.key!.slice(0, 8));
      expect(key.display).to.equal(`${key.key!.slice(0, 8)}…${key.key!.slice(-4)}`);
      expect(res.text).to.not.contain('key_digest');

      const row = (await knex()('keys').where('id', key.id).first()) as Record<string, unknown>;
      expect(row.key_digest).to.equal(digestOf(key.key!));
      expect(JSON.stringify(row)).to.not.contain(key.key);
      expect(await outbox()).to.deep.equal([{ resource: 'key', resource_id: String(key.id), action: 'upsert', payload: { digest: row.key_digest } }]);
      const [audit, ...more] = await audits();
      expect(more).to.have.length(0);
      expect(audit).to.include({ action: 'key.create', actor_type: 'admin', actor_id: 'bootstrap', object_type: 'key', object_id: String(key.id) });
      expect(JSON.stringify(audit)).to.not.contain(key.key).and.not.contain(row.key_digest);
    });

    it('never shows the plaintext again: not in reads, lists, audit or outbox rows', async function () {
      const master = await createMaster();
      const key = await issueKey(master.id);
      const plaintext = key.key!;
      for (const path of [`/admin/keys/${key.id}`, `/admin/masters/${master.id}/keys`, `/admin/keys/${key.id}/access`]) {
        const res = await req('GET', path);
        expect(res.status).to.equal(200);
        expect(res.text).to.not.contain(plaintext).and.not.contain(digestOf(plaintext)).and.not.contain('key_digest');
      }
      const tokens = await req('GET', '/v1/tokens', { token: master.key });
      expect(tokens.text).to.not.contain(plaintext);
      expect(JSON.stringify(await audits())).to.not.contain(plaintext);
      expect(JSON.stringify(await knex()('sync_outbox').select('*'))).to.not.contain(plaintext);
    });

    it('accepts every optional field', async function () {
      await knex()('namespaces').insert([{ name: 'team-a' }]);
      const master = await createMaster({ group: 'gold', namespaces: ['default', 'team-a'] });
      const expiresAt = inAnHour();
      const key = await issueKey(master.id, {
        scopes: ['chat:*', 'embeddings:*'],
        namespaces: ['team-a'],
        default_namespace: 'team-a',
        group: 'gold',
        model_limits_enabled: true,
        model_limits: ['gpt-4o', 'gpt-4o'],
        allow_ips: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32'],
        expires_at: expiresAt,
        quota_limit: 1000,
        rpm_limit: 60,
        tpm_limit: 100_000,
      });
      expect(key).to.include({ default_namespace: 'team-a', group: 'gold', model_limits_enabled: true, quota_limit: 1000, rpm_limit: 60, tpm_limit: 100_000 });
      expect(key.namespaces).to.deep.equal(['team-a']);
      expect(key.model_limits).to.deep.equal(['gpt-4o']);
      expect(key.allow_ips).to.deep.equal(['10.0.0.0/8', '192.168.1.7/32', '2001:db8::/32']);
      expect(new Date(key.expires_at!).toISOString()).to.equal(expiresAt);
    });

    const bad: Array<[string, Record<string, unknown>, string]> = [
      ['a missing name', { name: undefined }, 'body.name'],
      ['a name of the wrong type', { name: 7 }, 'body.name'],
      ['an unknown field', { colour: 'red' }, 'body'],
      ['a digest smuggled in', { key_digest: 'x' }, 'body'],
      ['issued_by smuggled in', { issued_by: 'master' }, 'body'],
      ['scopes as a string', { scopes: 'chat:*' }, 'body.scopes'],
      ['an empty scope list', { scopes: [] }, 'body.scopes'],
      ['a malformed scope', { scopes: ['chat'] }, 'body.scopes.0'],
      ['allow_ips with host bits', { allow_ips: ['10.0.0.0/8', '10.0.0.1/8'] }, 'body.allow_ips.1'],
      ['allow_ips that are not addresses', { allow_ips: ['localhost'] }, 'body.allow_ips.0'],
      ['an out-of-range prefix', { allow_ips: ['10.0.0.0/40'] }, 'body.allow_ips.0'],
      ['an expiry that is not an instant', { expires_at: 'tomorrow' }, 'body.expires_at'],
      ['an expiry without offset', { expires_at: '2099-01-01T00:00:00' }, 'body.expires_at'],
      ['a past expiry', { expires_at: '2000-01-01T00:00:00Z' }, 'body.expires_at'],
      ['quota_limit below -1', { quota_limit: -2 }, 'body.quota_limit'],
      ['a negative rpm_limit', { rpm_limit: -1 }, 'body.rpm_limit'],
      ['a fractional tpm_limit', { tpm_limit: 1.5 }, 'body.tpm_limit'],
      ['model_limits_enabled as a string', { model_limits_enabled: 'yes' }, 'body.model_limits_enabled'],
      ["namespaces outside the master's", { namespaces: ['default', 'elsewhere'] }, 'body.namespaces'],
      ["a default outside the key's namespaces", { default_namespace: 'elsewhere' }, 'body.default_namespace'],
      ["a group other than the master's", { group: 'gold' }, 'body.group'],
    ];
    for (const [name, body, field] of bad) {
      it(`refuses ${name} with 400 naming ${field}`, async function () {
        const master = await createMaster();
        await clearLedger();
        const error = expectError(await issue(master.id, body), 400, 'validation_failed', field);
        if (name === 'allow_ips with host bits') expect(error.details?.[0]?.message).to.contain('10.0.0.0/8');
        expect(await knex()('keys').select('id')).to.have.length(0);
        expect(await outbox()).to.have.length(0);
        expect(await audits()).to.have.length(0);
      });
    }

    it('answers 404 for an unknown master and 400 for a malformed id', async function () {
      expectError(await issue(999), 404, 'not_found');
      expectError(await issue(-1), 400, 'validation_failed', 'params.id');
    });

    it('refuses a suspended master with 403', async function () {
      const master = await createMaster({ status: 'suspended' });
      expectError(await issue(master.id), 403, 'forbidden');
    });

    it('counts active and disabled keys against max_child_keys, not expired or exhausted ones', async function () {
      const master = await createMaster({ max_child_keys: 2 });
      const a = await issueKey(master.id);
      const b = await issueKey(master.id);
      await req('PATCH', `/admin/keys/${b.id}`, { body: { status: 'disabled' } });
      const error = expectError(await issue(master.id), 409, 'conflict');
      expect(error.message).to.contain('max_child_keys 2');
      await knex()('keys').where('id', a.id).update({ status: 'expired' });
      await issueKey(master.id);
      await knex()('keys').where('id', b.id).update({ status: 'exhausted' });
      await issueKey(master.id);
      expectError(await issue(master.id), 409, 'conflict');
    });

    it('admits exactly max_child_keys keys under 10 concurrent requests', async function () {
      const master = await createMaster({ max_child_keys: 3 });
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => issue(master.id, { name: `k${i}` })));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).to.deep.equal([201, 201, 201, 409, 409, 409, 409, 409, 409, 409]);
      expect(await knex()('keys').where('master_id', master.id).select('id')).to.have.length(3);
      expect((await outbox()).filter((r) => r.resource === 'key')).to.have.length(3);
    });
  });

  describe('GET /admin/masters/:id/keys', function () {
    it("lists one master's keys newest first, with filters and pagination", async function () {
      const master = await createMaster();
      const other = await createMaster({ name: 'other' });
      const k1 = await issueKey(master.id, { name: 'one' });
      const k2 = await issueKey(master.id, { name: 'two' });
      await issueKey(other.id, { name: 'theirs' });
      await req('PATCH', `/admin/keys/${k1.id}`, { body: { status: 'disabled' } });
      const all = await req<Page<KeyJson>>('GET', `/admin/masters/${master.id}/keys`);
      expect(all.body.data.map((k) => k.name)).to.deep.equal(['two', 'one']);
      expect(all.body.pagination).to.deep.equal({ limit: 50, offset: 0, total: 2 });
      const disabled = await req<Page<KeyJson>>('GET', `/admin/masters/${master.id}/keys?status=disabled`);
      expect(disabled.body.data.map((k) => k.id)).to.deep.equal([k1.id]);
      const page = await req<Page<KeyJson>>('GET', `/admin/masters/${master.id}/keys?limit=1&offset=1`);
      expect(page.body.data.map((k) => k.id)).to.deep.equal([k1.id]);
      expect(page.body.pagination.total).to.equal(2);
      expect(k2.id).to.be.greaterThan(k1.id);
    });

    it('refuses an unknown master, a bad status and an unknown query parameter', async function () {
      const master = await createMaster();
      expectError(await req('GET', '/admin/masters/999/keys'), 404, 'not_found');
      expectError(await req('GET', `/admin/masters/${master.id}/keys?status=gone`), 400, 'validation_failed', 'query.status');
      expectError(await req('GET', `/admin/masters/${master.id}/keys?name=x`), 400, 'validation_failed', 'query');
    });
  });

  describe('GET /admin/keys/:id', function () {
    it('returns the key without its secret and 404s an unknown id', async function () {
      const master = await createMaster();
      const key = await issueKey(master.id);
      const res = await req<KeyJson>('GET', `/admin/keys/${key.id}`);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ id: key.id, display: key.display, key_last4: key.key!.slice(-4) });
      expect(res.body).to.not.have.property('key');
      const error = expectError(await req('GET', '/admin/keys/999'), 404, 'not_found');
      expect(error.message).to.equal('key 999 not found');
      expectError(await req('GET', '/admin/keys/1.5'), 400, 'validation_failed', 'params.id');
    });

    it('refuses a master key on the admin key routes (401)', async function () {
      const master = await createMaster();
      const key = await issueKey(master.id);
      expectError(await req('GET', `/admin/keys/${key.id}`, { token: master.key }), 401, 'unauthorized');
      expectError(await req('DELETE', `/admin/keys/${key.id}`, { token: master.key }), 401, 'unauthorized');
      expectError(await req('POST', `/admin/masters/${master.id}/keys`, { token: master.key, body: { name: 'x' } }), 401, 'unauthorized');
    });
  });

  describe('PATCH /admin/keys/:id', function () {
    it('updates the given fields and records a key upsert and an audit event', async function () {
      const master = await createMaster();
      const key = await issueKey(master.id, { expires_at: inAnHour() });
      await clearLedger();
      const res = await req<KeyJson>('PATCH', `/admin/keys/${key.id}`, {
        body: { name: 'renamed', status: 'disabled', scopes: ['*'], allow_ips: ['::1'], expires_at: null, quota_limit: 5, rpm_limit: 1, tpm_limit: 2 },
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ name: 'renamed', status: 'disabled', expires_at: null, quota_limit: 5, rpm_limit: 1, tpm_limit: 2 });
      expect(res.body.scopes).to.deep.equal(['*']);
      expect(res.body.allow_ips).to.deep.equal(['::1/128']);
      const digest = digestOf(key.key!);
      expect(await outbox()).to.deep.equal([{ resource: 'key', resource_id: String(key.id), action: 'upsert', payload: { digest } }]);
      const [audit, ...more] = await audits();
      expect(more).to.have.length(0);
      expect(audit).to.include({ action: 'key.update', object_id: String(key.id) });
      expect(JSON.stringify(audit)).to.not.contain(digest).and.not.contain(key.key);
    });

    it('refuses bad input', async function () {
      const master = await createMaster();
      const key = await issueKey(master.id);
      const patch = (body: unknown) => req('PATCH', `/admin/keys/${key.id}`, { body });
      expectError(await patch({}), 400, 'validation_failed', 'body');
      expectError(await patch({ status: 'expired' }), 400, 'validation_failed', 'body.status');
      expectError(await patch({ quota_limit: '5' }), 400, 'validation_failed', 'body.quota_limit');
      expectError(await patch({ allow_ips: ['10.0.0.1/8'] }), 400, 'validation_failed', 'body.allow_ips.0');
      expectError(await patch({ expires_at: '2001-01-01T00:00:00Z' }), 400, 'validation_failed', 'body.expires_at');
      expectError(await patch({ namespaces: ['default'] }), 400, 'validation_failed', 'body');
      expectError(await patch({ master_id: 2 }), 400, 'validation_failed', 'body');
      expectError(await req('PATCH', '/admin/keys/999', { body: { name: 'x' } }), 404, 'not_found');
    });

    it('refuses to reactivate an expired key when the master has no free slot', async function () {
      const master = await createMaster({ max_child_keys: 1 });
      const old = await issueKey(master.id);
      await knex()('keys').where('id', old.id).update({ status: 'expired' });
      await issueKey(master.id);
      expectError(await req('PATCH', `/admin/keys/${old.id}`, { body: { status: 'active' } }), 409, 'conflict');
      expect(((await knex()('keys').where('id', old.id).first()) as { status: string }).status).to.equal('expired');
    });
  });

  describe('DELETE /admin/keys/:id', function () {
    it('deletes the key, recording a key delete with its digest', async function () {
      const master = await createMaster();
      const key = await issueKey(master.id);
      await clearLedger();
      const res = await req('DELETE', `/admin/keys/${key.id}`);
      expect(res.status).to.equal(204);
      expect(await outbox()).to.deep.equal([{ resource: 'key', resource_id: String(key.id), action: 'delete', payload: { digest: digestOf(key.key!) } }]);
      const [audit] = await audits();
      expect(audit).to.include({ action: 'key.delete', object_id: String(key.id) });
      expectError(await req('GET', `/admin/keys/${key.id}`), 404, 'not_found');
      expectError(await req('DELETE', `/admin/keys/${key.id}`), 404, 'not_found');
    });
  });
});
