import { expect } from 'chai';
import { testEnv } from '../support/hooks.js';
import { audits, clearLedger, masterFixtures, outbox } from './fixtures.js';
import { expectError, useTestApi } from './helpers.js';

interface MasterJson {
  id: number;
  key: string;
}
interface KeyJson {
  id: number;
  key: string;
  namespaces: string[];
  default_namespace: string | null;
}
interface AccessJson {
  namespaces: string[];
  default_namespace: string | null;
  updated_key_ids?: number[];
}

describe('namespace access api', function () {
  const api = useTestApi('access-api');
  const { req } = api;
  const knex = () => testEnv().knex;

  const { createMaster, issueKey } = masterFixtures<MasterJson, KeyJson>(api);
  const digestOf = async (id: number) => ((await knex()('keys').where('id', id).first()) as { key_digest: string }).key_digest;
  const keyRow = async (id: number) => (await knex()('keys').where('id', id).first()) as { namespaces: string[]; default_namespace: string | null };

  beforeEach(async function () {
    await knex()('namespaces').insert([{ name: 'team-a' }, { name: 'team-b' }]);
  });

  describe('GET|PUT /admin/masters/:id/access', function () {
    it('reads and replaces the access, recording a master upsert and an audit event', async function () {
      const master = await createMaster();
      expect((await req<AccessJson>('GET', `/admin/masters/${master.id}/access`)).body).to.deep.equal({ namespaces: ['default'], default_namespace: 'default' });
      await clearLedger();
      const res = await req<AccessJson>('PUT', `/admin/masters/${master.id}/access`, { body: { namespaces: ['default', 'team-a'], default_namespace: 'team-a' } });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.deep.equal({ namespaces: ['default', 'team-a'], default_namespace: 'team-a', updated_key_ids: [] });
      expect((await req<AccessJson>('GET', `/admin/masters/${master.id}/access`)).body).to.deep.equal({ namespaces: ['default', 'team-a'], default_namespace: 'team-a' });
      expect(await outbox()).to.deep.equal([{ resource: 'master', resource_id: String(master.id), action: 'upsert', payload: {} }]);
      const [audit, ...more] = await audits();
      expect(more).to.have.length(0);
      expect(audit).to.include({ action: 'master.access.update', object_type: 'master', object_id: String(master.id) });
    });

    it('accepts `default` without a namespaces row', async function () {
      await knex()('namespaces').delete();
      const master = await createMaster();
      const res = await req('PUT', `/admin/masters/${master.id}/access`, { body: { namespaces: ['default'], default_namespace: 'default' } });
      expect(res.status, res.text).to.equal(200);
    });

    it('without propagate leaves the keys alone', async function () {
      const master = await createMaster({ namespaces: ['default', 'team-a'] });
      const key = await issueKey(master.id, { namespaces: ['team-a'] });
      await clearLedger();
      await req('PUT', `/admin/masters/${master.id}/access`, { body: { namespaces: ['default'], default_namespace: 'default' } });
      expect((await keyRow(key.id)).namespaces).to.deep.equal(['team-a']);
      expect(await outbox()).to.have.length(1);
    });

    it("with propagate narrows the keys, resets defaults that fell out, and records one key upsert per changed key", async function () {
      const master = await createMaster({ namespaces: ['default', 'team-a', 'team-b'] });
      const untouched = await issueKey(master.id, { namespaces: ['default'] });
      const narrowed = await issueKey(master.id, { namespaces: ['team-a', 'team-b'], default_namespace: 'team-b' });
      await clearLedger();
      const res = await req<AccessJson>('PUT', `/admin/masters/${master.id}/access`, {
        body: { namespaces: ['default', 'team-a'], default_namespace: 'default', propagate: true },
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.updated_key_ids).to.deep.equal([narrowed.id]);
      expect(await keyRow(narrowed.id)).to.include({ default_namespace: 'team-a' });
      expect((await keyRow(narrowed.id)).namespaces).to.deep.equal(['team-a']);
      expect((await keyRow(untouched.id)).namespaces).to.deep.equal(['default']);
      expect(await outbox()).to.deep.equal([
        { resource: 'key', resource_id: String(narrowed.id), action: 'upsert', payload: { digest: await digestOf(narrowed.id) } },
        { resource: 'master', resource_id: String(master.id), action: 'upsert', payload: {} },
      ]);
      const [audit] = await audits();
      expect(audit!.metadata).to.deep.include({ propagate: true, updated_key_ids: [narrowed.id] });
      expect(JSON.stringify(audit)).to.not.contain(await digestOf(narrowed.id)).and.not.contain(narrowed.key);
    });

    it('refuses a propagation that would leave a key with no namespace (409), changing nothing', async function () {
      const master = await createMaster({ namespaces: ['default', 'team-b'] });
      const key = await issueKey(master.id, { namespaces: ['team-b'] });
      await clearLedger();
      const error = expectError(
        await req('PUT', `/admin/masters/${master.id}/access`, { body: { namespaces: ['default'], default_namespace: 'default', propagate: true } }),
        409,
        'conflict',
      );
      expect(error.message).to.contain(String(key.id));
      expect((await req<AccessJson>('GET', `/admin/masters/${master.id}/access`)).body.namespaces).to.deep.equal(['default', 'team-b']);
      expect(await outbox()).to.have.length(0);
      expect(await audits()).to.have.length(0);
    });

    it('refuses bad input', async function () {
      const master = await createMaster();
      const put = (body: unknown, id = master.id) => req('PUT', `/admin/masters/${id}/access`, { body });
      const unknown = expectError(await put({ namespaces: ['default', 'ghost'], default_namespace: 'default' }), 400, 'validation_failed', 'body.namespaces');
      expect(unknown.details?.[0]?.message).to.contain('ghost');
      expectError(await put({ namespaces: ['team-a'], default_namespace: 'default' }), 400, 'validation_failed', 'body.default_namespace');
      expectError(await put({ namespaces: ['team-a'] }), 400, 'validation_failed', 'body.default_namespace');
      expectError(await put({ namespaces: 'team-a', default_namespace: 'team-a' }), 400, 'validation_failed', 'body.namespaces');
      expectError(await put({ namespaces: [], default_namespace: 'team-a' }), 400, 'validation_failed', 'body.namespaces');
      expectError(await put({ namespaces: ['team-a'], default_namespace: 'team-a', propagate: 'yes' }), 400, 'validation_failed', 'body.propagate');
      expectError(await put({ namespaces: ['team-a'], default_namespace: 'team-a', extra: 1 }), 400, 'validation_failed', 'body');
      expectError(await put({ namespaces: ['team-a'], default_namespace: 'team-a' }, 999), 404, 'not_found');
      expectError(await req('GET', '/admin/masters/999/access'), 404, 'not_found');
    });

    it('refuses a master key (401)', async function () {
      const master = await createMaster();
      expectError(await req('GET', `/admin/masters/${master.id}/access`, { token: master.key }), 401, 'unauthorized');
    });
  });

  describe('GET|PUT /admin/keys/:id/access', function () {
    it("reads and replaces a key's access within its master's, recording a key upsert", async function () {
      const master = await createMaster({ namespaces: ['default', 'team-a'] });
      const key = await issueKey(master.id);
      expect((await req<AccessJson>('GET', `/admin/keys/${key.id}/access`)).body).to.deep.equal({ namespaces: ['default', 'team-a'], default_namespace: 'default' });
      await clearLedger();
      const res = await req<AccessJson>('PUT', `/admin/keys/${key.id}/access`, { body: { namespaces: ['team-a'], default_namespace: 'team-a' } });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.deep.equal({ namespaces: ['team-a'], default_namespace: 'team-a' });
      expect(await outbox()).to.deep.equal([{ resource: 'key', resource_id: String(key.id), action: 'upsert', payload: { digest: await digestOf(key.id) } }]);
      const [audit, ...more] = await audits();
      expect(more).to.have.length(0);
      expect(audit).to.include({ action: 'key.access.update', object_type: 'key', object_id: String(key.id) });
    });

    it('refuses bad input', async function () {
      const master = await createMaster({ namespaces: ['default', 'team-a'] });
      const key = await issueKey(master.id);
      const put = (body: unknown, id = key.id) => req('PUT', `/admin/keys/${id}/access`, { body });
      const outside = expectError(await put({ namespaces: ['team-b'], default_namespace: 'team-b' }), 400, 'validation_failed', 'body.namespaces');
      expect(outside.details?.[0]?.message).to.contain('team-b');
      expectError(await put({ namespaces: ['ghost'], default_namespace: 'ghost' }), 400, 'validation_failed', 'body.namespaces');
      expectError(await put({ namespaces: ['team-a'], default_namespace: 'default' }), 400, 'validation_failed', 'body.default_namespace');
      expectError(await put({ namespaces: ['team-a'], default_namespace: 'team-a', propagate: true }), 400, 'validation_failed', 'body');
      expectError(await put({ default_namespace: 'team-a' }), 400, 'validation_failed', 'body.namespaces');
      expectError(await put({ namespaces: ['team-a'], default_namespace: 'team-a' }, 999), 404, 'not_found');
      expectError(await req('GET', '/admin/keys/999/access'), 404, 'not_found');
      expect((await keyRow(key.id)).namespaces).to.deep.equal(['default', 'team-a']);
    });
  });
});
