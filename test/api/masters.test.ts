import { expect } from 'chai';
import { KeyDigester } from '../../src/lib/key-digest.js';
import type { MasterDto } from '../../src/domain/masters.service.js';
import { testEnv } from '../support/hooks.js';
import { audits, clearLedger, masterFixtures, outbox } from './fixtures.js';
import { EZ_SECRET, expectError, useTestApi, type Page } from './helpers.js';

type MasterJson = MasterDto & { key?: string };
interface KeyJson {
  id: number;
  key: string;
  issued_at_epoch: number;
}

describe('admin masters api', function () {
  const api = useTestApi('masters-api');
  const { req } = api;
  const knex = () => testEnv().knex;

  const { createMaster, issueKey } = masterFixtures<MasterJson, KeyJson>(api);

  describe('POST /admin/masters', function () {
    it('creates a master with the defaults and returns its master key once', async function () {
      const master = await createMaster();
      expect(master).to.include({ name: 'acme', group: 'default', default_namespace: 'default', max_child_keys: 10, global_qps: 3, status: 'active', epoch: 0 });
      expect(master.namespaces).to.deep.equal(['default']);
      expect(master.key).to.match(/^ezm_[A-Za-z0-9_-]{43}$/);
      expect(master.display).to.equal(`${master.key!.slice(0, 8)}…${master.key!.slice(-4)}`);
      expect(master).to.not.have.property('key_digest');

      const row = (await knex()('masters').where('id', master.id).first()) as Record<string, unknown>;
      expect(row.key_digest).to.equal(new KeyDigester(EZ_SECRET).digest(master.key!));
      expect(JSON.stringify(row)).to.not.contain(master.key);

      expect(await outbox()).to.deep.equal([{ resource: 'master', resource_id: String(master.id), action: 'upsert', payload: {} }]);
      const [audit, ...more] = await audits();
      expect(more).to.have.length(0);
      expect(audit).to.include({ action: 'master.create', actor_type: 'admin', actor_id: 'bootstrap', object_type: 'master', object_id: String(master.id) });
      expect(JSON.stringify(audit)).to.not.contain(master.key).and.not.contain(row.key_digest);
    });

    it('accepts explicit settings and existing namespaces', async function () {
      await knex()('namespaces').insert([{ name: 'team-a' }, { name: 'team-b' }]);
      const master = await createMaster({
        group: 'gold',
        namespaces: ['team-a', 'team-b'],
        default_namespace: 'team-b',
        max_child_keys: 2,
        global_qps: 0,
        status: 'suspended',
      });
      expect(master).to.include({ group: 'gold', default_namespace: 'team-b', max_child_keys: 2, global_qps: 0, status: 'suspended' });
      expect(master.namespaces).to.deep.equal(['team-a', 'team-b']);
    });

    it("defaults default_namespace to the first namespace when 'default' is not listed", async function () {
      await knex()('namespaces').insert([{ name: 'team-a' }]);
      expect((await createMaster({ namespaces: ['team-a'] })).default_namespace).to.equal('team-a');
    });

    const bad: Array<[string, unknown, string]> = [
      ['a missing name', {}, 'body.name'],
      ['an empty name', { name: '' }, 'body.name'],
      ['a blank-padded name', { name: ' acme ' }, 'body.name'],
      ['a name of the wrong type', { name: 42 }, 'body.name'],
      ['max_child_keys as a string', { name: 'a', max_child_keys: '10' }, 'body.max_child_keys'],
      ['a negative max_child_keys', { name: 'a', max_child_keys: -1 }, 'body.max_child_keys'],
      ['a fractional global_qps', { name: 'a', global_qps: 1.5 }, 'body.global_qps'],
      ['an unknown status', { name: 'a', status: 'deleted' }, 'body.status'],
      ['an empty namespace list', { name: 'a', namespaces: [] }, 'body.namespaces'],
      ['a namespace with a dot', { name: 'a', namespaces: ['a.b'] }, 'body.namespaces.0'],
      ['a bad group', { name: 'a', group: 'has space' }, 'body.group'],
      ['an unknown field', { name: 'a', colour: 'red' }, 'body'],
      ['a body that is not an object', [1, 2], 'body'],
    ];
    for (const [name, body, field] of bad) {
      it(`refuses ${name} with 400 naming ${field}`, async function () {
        const error = expectError(await req('POST', '/admin/masters', { body }), 400, 'validation_failed', field);
        if (name === 'an unknown field') expect(JSON.stringify(error.details)).to.contain('colour');
      });
    }

    it('refuses a missing body', async function () {
      expectError(await req('POST', '/admin/masters'), 400, 'validation_failed', 'body');
    });

    it('refuses a default_namespace outside the namespaces', async function () {
      expectError(await req('POST', '/admin/masters', { body: { name: 'a', default_namespace: 'other' } }), 400, 'validation_failed', 'body.default_namespace');
    });

    it('refuses namespaces that do not exist, naming them', async function () {
      const error = expectError(await req('POST', '/admin/masters', { body: { name: 'a', namespaces: ['default', 'ghost'] } }), 400, 'validation_failed', 'body.namespaces');
      expect(error.details?.[0]?.message).to.contain('ghost');
    });

    it('refuses a duplicate name with 409 naming it, writing nothing', async function () {
      await createMaster();
      await clearLedger();
      const error = expectError(await req('POST', '/admin/masters', { body: { name: 'acme' } }), 409, 'conflict', 'body.name');
      expect(error.message).to.contain('acme');
      expect(await outbox()).to.have.length(0);
      expect(await audits()).to.have.length(0);
    });

    it('refuses a master key and no credentials with 401', async function () {
      const master = await createMaster();
      expectError(await req('POST', '/admin/masters', { token: master.key!, body: { name: 'b' } }), 401, 'unauthorized');
      expectError(await req('GET', '/admin/masters', { token: master.key! }), 401, 'unauthorized');
      expectError(await req('GET', `/admin/masters/${master.id}`, { token: null }), 401, 'unauthorized');
    });
  });

  describe('GET /admin/masters', function () {
    it('pages newest first with the total', async function () {
      for (const name of ['m1', 'm2', 'm3']) await createMaster({ name });
      const page = await req<Page<MasterJson>>('GET', '/admin/masters?limit=2');
      expect(page.status).to.equal(200);
      expect(page.body.data.map((m) => m.name)).to.deep.equal(['m3', 'm2']);
      expect(page.body.pagination).to.deep.equal({ limit: 2, offset: 0, total: 3 });
      const next = await req<Page<MasterJson>>('GET', '/admin/masters?limit=2&offset=2');
      expect(next.body.data.map((m) => m.name)).to.deep.equal(['m1']);
      expect(page.text).to.not.contain('key_digest').and.not.contain('"key"');
    });

    it('filters by status, group and name substring (literally, case-insensitive)', async function () {
      await createMaster({ name: 'Alpha_1', group: 'gold' });
      await createMaster({ name: 'beta', status: 'suspended' });
      await createMaster({ name: 'alphabet' });
      const names = async (query: string) => (await req<Page<MasterJson>>('GET', `/admin/masters?${query}`)).body.data.map((m) => m.name).sort();
      expect(await names('status=suspended')).to.deep.equal(['beta']);
      expect(await names('group=gold')).to.deep.equal(['Alpha_1']);
      expect(await names('q=ALPHA')).to.deep.equal(['Alpha_1', 'alphabet']);
      expect(await names('q=a_')).to.deep.equal(['Alpha_1']);
      expect(await names('q=%25')).to.deep.equal([]);
    });

    const badQueries: Array<[string, string]> = [
      ['limit=0', 'query.limit'],
      ['limit=201', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['offset=-1', 'query.offset'],
      ['status=gone', 'query.status'],
      ['sort=name', 'query'],
    ];
    for (const [query, field] of badQueries) {
      it(`refuses ?${query} naming ${field}`, async function () {
        expectError(await req('GET', `/admin/masters?${query}`), 400, 'validation_failed', field);
      });
    }
  });

  describe('GET /admin/masters/:id', function () {
    it('returns the master without its key', async function () {
      const master = await createMaster();
      const res = await req<MasterJson>('GET', `/admin/masters/${master.id}`);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ id: master.id, name: 'acme', key_prefix: master.key_prefix, key_last4: master.key_last4 });
      expect(res.text).to.not.contain(master.key).and.not.contain('key_digest');
    });

    it('answers 404 naming the master for an unknown id and 400 for a malformed one', async function () {
      const error = expectError(await req('GET', '/admin/masters/999'), 404, 'not_found');
      expect(error.message).to.equal('master 999 not found');
      expectError(await req('GET', '/admin/masters/abc'), 400, 'validation_failed', 'params.id');
      expectError(await req('GET', '/admin/masters/0'), 400, 'validation_failed', 'params.id');
    });
  });

  describe('PATCH /admin/masters/:id', function () {
    it('updates only the given fields and records the write', async function () {
      const master = await createMaster();
      await clearLedger();
      const res = await req<MasterJson>('PATCH', `/admin/masters/${master.id}`, { body: { max_child_keys: 5, global_qps: 0 } });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ name: 'acme', max_child_keys: 5, global_qps: 0, status: 'active' });
      expect(await outbox()).to.deep.equal([{ resource: 'master', resource_id: String(master.id), action: 'upsert', payload: {} }]);
      const [audit] = await audits();
      expect(audit).to.include({ action: 'master.update', object_id: String(master.id) });
      expect(audit!.metadata).to.deep.equal({ changes: { max_child_keys: 5, global_qps: 0 } });
    });

    it('suspends a master: its master key is then refused with 403', async function () {
      const master = await createMaster();
      expect((await req('GET', '/v1/tokens', { token: master.key! })).status).to.equal(200);
      const res = await req<MasterJson>('PATCH', `/admin/masters/${master.id}`, { body: { status: 'suspended' } });
      expect(res.body.status).to.equal('suspended');
      expectError(await req('GET', '/v1/tokens', { token: master.key! }), 403, 'forbidden');
    });

    it("un-pins keys pinned to the old group when the group changes", async function () {
      const master = await createMaster();
      const pinned = await issueKey(master.id, { group: 'default' });
      const following = await issueKey(master.id);
      await clearLedger();
      await req('PATCH', `/admin/masters/${master.id}`, { body: { group: 'gold' } });
      const rows = (await knex()('keys').select('id', 'group', 'key_digest').orderBy('id')) as Array<{ id: number; group: string | null; key_digest: string }>;
      expect(rows.map((r) => r.group)).to.deep.equal([null, null]);
      expect(await outbox()).to.deep.equal([
        { resource: 'master', resource_id: String(master.id), action: 'upsert', payload: {} },
        { resource: 'key', resource_id: String(pinned.id), action: 'upsert', payload: { digest: rows[0]!.key_digest } },
      ]);
      expect(following.id).to.not.equal(pinned.id);
    });

    it('refuses bad input', async function () {
      const master = await createMaster();
      await createMaster({ name: 'taken' });
      expectError(await req('PATCH', `/admin/masters/${master.id}`, { body: {} }), 400, 'validation_failed', 'body');
      expectError(await req('PATCH', `/admin/masters/${master.id}`, { body: { status: 'deleted' } }), 400, 'validation_failed', 'body.status');
      expectError(await req('PATCH', `/admin/masters/${master.id}`, { body: { epoch: 5 } }), 400, 'validation_failed', 'body');
      expectError(await req('PATCH', `/admin/masters/${master.id}`, { body: { namespaces: ['default'] } }), 400, 'validation_failed', 'body');
      expectError(await req('PATCH', `/admin/masters/${master.id}`, { body: { max_child_keys: null } }), 400, 'validation_failed', 'body.max_child_keys');
      expectError(await req('PATCH', `/admin/masters/${master.id}`, { body: { name: 'taken' } }), 409, 'conflict', 'body.name');
      expectError(await req('PATCH', '/admin/masters/999', { body: { name: 'x' } }), 404, 'not_found');
    });
  });

  describe('DELETE /admin/masters/:id', function () {
    it("deletes the master and its keys, recording a key delete per child key's digest", async function () {
      const master = await createMaster();
      const k1 = await issueKey(master.id);
      const k2 = await issueKey(master.id);
      const digests = (await knex()('keys').select('id', 'key_digest').orderBy('id')) as Array<{ id: number; key_digest: string }>;
      await clearLedger();
      const res = await req('DELETE', `/admin/masters/${master.id}`);
      expect(res.status).to.equal(204);
      expect(res.text).to.equal('');
      expect(await knex()('keys').select('id')).to.have.length(0);
      expect(await outbox()).to.deep.equal([
        { resource: 'key', resource_id: String(k1.id), action: 'delete', payload: { digest: digests[0]!.key_digest } },
        { resource: 'key', resource_id: String(k2.id), action: 'delete', payload: { digest: digests[1]!.key_digest } },
        { resource: 'master', resource_id: String(master.id), action: 'delete', payload: {} },
      ]);
      const [audit, ...more] = await audits();
      expect(more).to.have.length(0);
      expect(audit).to.include({ action: 'master.delete', object_id: String(master.id) });
      expect(JSON.stringify(audit)).to.not.contain(digests[0]!.key_digest).and.not.contain(k1.key);
      expectError(await req('GET', `/admin/masters/${master.id}`), 404, 'not_found');
    });

    it('answers 404 for an unknown master', async function () {
      expectError(await req('DELETE', '/admin/masters/999'), 404, 'not_found');
    });
  });

  describe('POST /admin/masters/:id/revoke', function () {
    it('bumps the epoch; existing keys keep their issued_at_epoch, new keys get the new one', async function () {
      const master = await createMaster();
      const old = await issueKey(master.id);
      expect(old.issued_at_epoch).to.equal(0);
      await clearLedger();
      const res = await req<MasterJson>('POST', `/admin/masters/${master.id}/revoke`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body.epoch).to.equal(1);
      expect((await req<MasterJson>('POST', `/admin/masters/${master.id}/revoke`)).body.epoch).to.equal(2);
      expect(((await knex()('keys').where('id', old.id).first()) as { issued_at_epoch: number }).issued_at_epoch).to.equal(0);
      expect((await issueKey(master.id)).issued_at_epoch).to.equal(2);
      const rows = await outbox();
      expect(rows.slice(0, 2)).to.deep.equal([
        { resource: 'master', resource_id: String(master.id), action: 'upsert', payload: {} },
        { resource: 'master', resource_id: String(master.id), action: 'upsert', payload: {} },
      ]);
      const [first] = await audits();
      expect(first).to.include({ action: 'master.revoke', object_id: String(master.id) });
      expect(first!.metadata).to.deep.equal({ epoch: 1 });
    });

    it('answers 404 for an unknown master', async function () {
      expectError(await req('POST', '/admin/masters/999/revoke'), 404, 'not_found');
    });
  });

  describe('POST /admin/masters/:id/rotate-key', function () {
    it('issues a new master key once; the old one stops working', async function () {
      const master = await createMaster();
      await clearLedger();
      const res = await req<MasterJson>('POST', `/admin/masters/${master.id}/rotate-key`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body.key).to.match(/^ezm_/).and.not.equal(master.key);
      expectError(await req('GET', '/v1/tokens', { token: master.key! }), 401, 'unauthorized');
      expect((await req('GET', '/v1/tokens', { token: res.body.key! })).status).to.equal(200);
      const [audit] = await audits();
      expect(audit).to.include({ action: 'master.rotate_key' });
      expect(JSON.stringify(await audits())).to.not.contain(res.body.key);
      expect((await req('GET', `/admin/masters/${master.id}`)).text).to.not.contain(res.body.key);
      expectError(await req('POST', '/admin/masters/999/rotate-key'), 404, 'not_found');
    });
  });

  it('documents every master route in /openapi.json', async function () {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(doc.paths['/admin/masters']).to.have.keys('get', 'post');
    expect(doc.paths['/admin/masters/{id}']).to.have.keys('get', 'patch', 'delete');
    expect(doc.paths['/admin/masters/{id}/revoke']).to.have.keys('post');
    expect(doc.paths['/admin/masters/{id}/access']).to.have.keys('get', 'put');
  });
});
