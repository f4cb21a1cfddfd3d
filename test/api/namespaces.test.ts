import { expect } from 'chai';
import type { NamespaceDto } from '../../src/domain/namespaces.service.js';
import { testEnv } from '../support/hooks.js';
import { insertKey, insertMaster, outboxEntries } from './fixtures.js';
import { ADMIN_TOKEN, bearer, fields, useTestApi, type ErrorJson, type Page } from './helpers.js';

describe('/admin/namespaces', function () {
  const api = useTestApi<ErrorJson>('namespaces-test');
  const { call } = api;
  const outbox = outboxEntries;
  const audit = () => testEnv().knex('audit_events').select('action', 'object_type', 'object_id', 'metadata').orderBy('id');
  const defaultId = async () => (await call<Page<NamespaceDto>>('GET', '/admin/namespaces')).body.data.find((n) => n.name === 'default')!.id;

  it('always lists the built-in default namespace, even on an empty database', async function () {
    const res = await call<Page<NamespaceDto>>('GET', '/admin/namespaces');
    expect(res.status).to.equal(200);
    expect(res.body.data).to.have.length(1);
    expect(res.body.data[0]).to.include({ name: 'default', builtin: true });
    expect(res.body.pagination).to.deep.equal({ limit: 50, offset: 0, total: 1 });
    // Materialising it is not an admin write.
    expect(await outbox()).to.have.length(0);
  });

  describe('POST', function () {
    it('creates a namespace with one routing outbox row and a namespace.create audit event', async function () {
      const res = await call<NamespaceDto>('POST', '/admin/namespaces', { name: 'Team_a-1', description: 'Team A' });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ name: 'Team_a-1', description: 'Team A', builtin: false });
      expect(await outbox()).to.deep.equal([{ resource: 'routing', resource_id: null, action: 'upsert' }]);
      expect(await audit()).to.deep.equal([{ action: 'namespace.create', object_type: 'namespace', object_id: String(res.body.id), metadata: { name: 'Team_a-1' } }]);
      const list = await call<Page<NamespaceDto>>('GET', '/admin/namespaces');
      expect(list.body.data.map((n) => n.name)).to.deep.equal(['Team_a-1', 'default']);
    });

    it('refuses names with dots, spaces or over 64 characters, and missing names', async function () {
      for (const name of ['team.a', 'team a', '', 'x'.repeat(65), 'ünï']) {
        const res = await call('POST', '/admin/namespaces', { name });
        expect(res.status, name).to.equal(400);
        expect(fields(res.body), name).to.deep.equal(['body.name']);
      }
      expect(fields((await call('POST', '/admin/namespaces', { description: 'x' })).body)).to.deep.equal(['body.name']);
      const types = await call('POST', '/admin/namespaces', { name: 5, description: false });
      expect(fields(types.body)).to.include.members(['body.name', 'body.description']);
      const unknown = await call('POST', '/admin/namespaces', { name: 'ok', owner: 'me' });
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error.details![0]!.message).to.contain('owner');
      expect((await call('POST', '/admin/namespaces', { name: 'x'.repeat(64) })).status).to.equal(201);
    });

    it('refuses duplicates, including `default`, with 409', async function () {
      expect((await call('POST', '/admin/namespaces', { name: 'dup' })).status).to.equal(201);
      const dup = await call('POST', '/admin/namespaces', { name: 'dup' });
      expect(dup.status).to.equal(409);
      expect(dup.body.error.message).to.contain('"dup"');
      expect(fields(dup.body)).to.deep.equal(['body.name']);
      const def = await call('POST', '/admin/namespaces', { name: 'default' });
      expect(def.status).to.equal(409);
    });
  });

  describe('GET, PATCH', function () {
    it('gets one namespace and 404s an unknown id', async function () {
      const created = await call<NamespaceDto>('POST', '/admin/namespaces', { name: 'n1' });
      expect((await call<NamespaceDto>('GET', `/admin/namespaces/${created.body.id}`)).body).to.deep.equal(created.body);
      const missing = await call('GET', '/admin/namespaces/9999');
      expect(missing.status).to.equal(404);
      expect(missing.body.error.code).to.equal('not_found');
      expect(fields((await call('GET', '/admin/namespaces/x')).body)).to.deep.equal(['params.id']);
    });

    it('filters by q and paginates', async function () {
      for (const name of ['alpha', 'beta', 'alphabet']) await call('POST', '/admin/namespaces', { name });
      const q = await call<Page<NamespaceDto>>('GET', '/admin/namespaces?q=ALPHA');
      expect(q.body.data.map((n) => n.name)).to.deep.equal(['alphabet', 'alpha']);
      const page = await call<Page<NamespaceDto>>('GET', '/admin/namespaces?limit=1&offset=1');
      expect(page.body.data.map((n) => n.name)).to.deep.equal(['beta']);
      expect(page.body.pagination.total).to.equal(4);
      expect(fields((await call('GET', '/admin/namespaces?limit=x')).body)).to.deep.equal(['query.limit']);
    });

    it('changes the description only; the name is immutable', async function () {
      const created = await call<NamespaceDto>('POST', '/admin/namespaces', { name: 'n1' });
      const res = await call<NamespaceDto>('PATCH', `/admin/namespaces/${created.body.id}`, { description: 'new' });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ name: 'n1', description: 'new' });
      const rename = await call('PATCH', `/admin/namespaces/${created.body.id}`, { name: 'n2' });
      expect(rename.status).to.equal(400);
      expect(rename.body.error.details!.map((d) => d.message).join(' ')).to.contain('name');
      expect(fields((await call('PATCH', `/admin/namespaces/${created.body.id}`, { description: 1 })).body)).to.deep.equal(['body.description']);
      expect((await call('PATCH', '/admin/namespaces/9999', { description: 'x' })).status).to.equal(404);
      const events = await audit();
      expect(events.map((e) => e.action)).to.deep.equal(['namespace.create', 'namespace.update']);
      expect(await outbox()).to.have.length(2);
      // The default namespace's description can change too.
      const def = await call<NamespaceDto>('PATCH', `/admin/namespaces/${await defaultId()}`, { description: 'catch-all' });
      expect(def.body).to.include({ name: 'default', description: 'catch-all', builtin: true });
    });
  });

  describe('DELETE', function () {
    it('deletes an unused namespace with an outbox row and a namespace.delete audit event', async function () {
      const created = await call<NamespaceDto>('POST', '/admin/namespaces', { name: 'tmp' });
      const res = await fetch(`${api.url}/admin/namespaces/${created.body.id}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
      expect(res.status).to.equal(204);
      expect((await call('GET', `/admin/namespaces/${created.body.id}`)).status).to.equal(404);
      expect((await call('DELETE', `/admin/namespaces/${created.body.id}`)).status).to.equal(404);
      expect((await audit()).map((e) => e.action)).to.deep.equal(['namespace.create', 'namespace.delete']);
      expect(await outbox()).to.have.length(2);
    });

    it('refuses to delete default', async function () {
      const res = await call('DELETE', `/admin/namespaces/${await defaultId()}`);
      expect(res.status).to.equal(409);
      expect(res.body.error.message).to.contain('default');
    });

    it('refuses (409) while a binding, a master or a key still uses it, naming who', async function () {
      const ns = await call<NamespaceDto>('POST', '/admin/namespaces', { name: 'busy' });
      const { knex } = testEnv();
      const [binding] = await knex('bindings')
        .insert({ namespace: 'busy', public_model: 'gpt-4o', candidates: JSON.stringify([]) })
        .returning<Array<{ id: number }>>('id');
      const res = await call('DELETE', `/admin/namespaces/${ns.body.id}`);
      expect(res.status).to.equal(409);
      expect(res.body.error.code).to.equal('conflict');
      expect(res.body.error.message).to.contain(`binding "gpt-4o" (id ${binding!.id})`);
      await knex('bindings').delete();

      const masterId = await insertMaster({ name: 'acme', namespaces: ['default', 'busy'] });
      const byMaster = await call('DELETE', `/admin/namespaces/${ns.body.id}`);
      expect(byMaster.status).to.equal(409);
      expect(byMaster.body.error.message).to.contain(`master "acme" (id ${masterId})`);
      await knex('masters').update({ namespaces: ['default'], default_namespace: 'busy' });
      expect((await call('DELETE', `/admin/namespaces/${ns.body.id}`)).body.error.message).to.contain('master "acme"');
      await knex('masters').update({ default_namespace: 'default' });

      const keyId = await insertKey(masterId, { namespaces: ['busy'] });
      const byKey = await call('DELETE', `/admin/namespaces/${ns.body.id}`);
      expect(byKey.status).to.equal(409);
      expect(byKey.body.error.message).to.contain(`key ${keyId} of master ${masterId}`);
      await knex('keys').update({ namespaces: [], default_namespace: 'busy' });
      expect((await call('DELETE', `/admin/namespaces/${ns.body.id}`)).status).to.equal(409);
      await knex('keys').update({ default_namespace: null });

      expect((await call('DELETE', `/admin/namespaces/${ns.body.id}`)).status).to.equal(204);
      // Only the create and the final delete were writes.
      expect(await outbox()).to.have.length(2);
    });

    it('summarises long lists of users', async function () {
      const ns = await call<NamespaceDto>('POST', '/admin/namespaces', { name: 'popular' });
      await testEnv()
        .knex('bindings')
        .insert(Array.from({ length: 8 }, (_, i) => ({ namespace: 'popular', public_model: `m${i}`, candidates: JSON.stringify([]) })));
      const res = await call('DELETE', `/admin/namespaces/${ns.body.id}`);
      expect(res.status).to.equal(409);
      expect(res.body.error.message).to.contain('3 more bindings');
    });
  });
});
