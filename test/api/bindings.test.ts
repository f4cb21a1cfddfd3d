import { expect } from 'chai';
import { createBindingSchema } from '../../src/api/routes/bindings.schemas.js';
import type { BindingDto } from '../../src/domain/bindings.service.js';
import { testEnv } from '../support/hooks.js';
import { insertApiKey, insertProviderGroup as insertGroup, outboxEntries } from './fixtures.js';
import { ADMIN_TOKEN, bearer, fields, useTestApi, type ErrorJson, type Page } from './helpers.js';

describe('/admin/bindings', function () {
  const api = useTestApi<ErrorJson>('bindings-test');
  const { call } = api;
  let openai: number;
  let openaiKeys: number[];
  const outbox = outboxEntries;
  const audit = () => testEnv().knex('audit_events').select('action', 'object_type', 'object_id', 'metadata').orderBy('id');
  const exact = (groupId: number, value: string, extra: Record<string, unknown> = {}) => ({ group_id: groupId, selector_type: 'exact', selector_value: value, ...extra });
  // Typed loosely so one helper serves success and error cases.
  const create = (body: Record<string, unknown>) => call<BindingDto & ErrorJson>('POST', '/admin/bindings', { namespace: 'default', public_model: 'gpt-4o', ...body });

  beforeEach(async function () {
    openai = await insertGroup('openai-main', ['gpt-4o-2024-08-06', 'gpt-4o-mini', 'moonshot/Kimi2', 'o3']);
    openaiKeys = [await insertApiKey(openai), await insertApiKey(openai), await insertApiKey(openai, 'disabled')];
  });

  describe('POST and candidate resolution', function () {
    it('creates a binding in `default` with an exact candidate resolved to every active upstream key', async function () {
      const res = await create({ candidates: [exact(openai, ' gpt-4o-2024-08-06 ')] });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ namespace: 'default', public_model: 'gpt-4o', route_group: 'default', status: 'active' });
      expect(res.body.candidates).to.deep.equal([
        {
          group_id: openai,
          route_group: null,
          weight: 1,
          selector_type: 'exact',
          selector_value: ' gpt-4o-2024-08-06 ',
          resolution: {
            status: 'active',
            route_group: 'default',
            matched_models: ['gpt-4o-2024-08-06'],
            upstream_model: 'gpt-4o-2024-08-06',
            upstreams: { [String(openaiKeys[0])]: 'gpt-4o-2024-08-06', [String(openaiKeys[1])]: 'gpt-4o-2024-08-06' },
            message: null,
          },
        },
      ]);
      expect(await outbox()).to.deep.equal([{ resource: 'routing', resource_id: null, action: 'upsert' }]);
      expect(await audit()).to.deep.equal([
        { action: 'binding.create', object_type: 'binding', object_id: String(res.body.id), metadata: { namespace: 'default', public_model: 'gpt-4o', candidates: 1 } },
      ]);
      // The stored candidate keeps only what was given (weight defaulted).
      const row = (await testEnv().knex('bindings').where('id', res.body.id).first()) as { candidates: unknown };
      expect(row.candidates).to.deep.equal([{ group_id: openai, weight: 1, selector_type: 'exact', selector_value: ' gpt-4o-2024-08-06 ' }]);
    });

    it('resolves normalize_exact by the last path segment, case-insensitively', async function () {
      const res = await create({ public_model: 'kimi', candidates: [{ group_id: openai, selector_type: 'normalize_exact', selector_value: ' KIMI2 ', weight: 5, route_group: 'vip' }] });
      expect(res.status).to.equal(201);
      const [c] = res.body.candidates;
      expect(c).to.include({ weight: 5, route_group: 'vip' });
      expect(c!.resolution).to.include({ status: 'active', route_group: 'vip', upstream_model: 'moonshot/Kimi2' });
      expect(c!.resolution.matched_models).to.deep.equal(['moonshot/Kimi2']);
    });

    it('a regex hitting one model is active; one hitting two is saved but marked config_error', async function () {
      const res = await create({
        candidates: [
          { group_id: openai, selector_type: 'regex', selector_value: 'gpt-4o-\\d{4}-.*' },
          { group_id: openai, selector_type: 'regex', selector_value: 'gpt-4o.*' },
          { group_id: openai, selector_type: 'regex', selector_value: 'gpt-4' },
        ],
      });
      expect(res.status).to.equal(201);
      const [one, two, none] = res.body.candidates.map((c) => c.resolution);
      expect(one).to.include({ status: 'active', upstream_model: 'gpt-4o-2024-08-06' });
      expect(two).to.deep.include({ status: 'config_error', upstream_model: null, upstreams: {}, matched_models: ['gpt-4o-2024-08-06', 'gpt-4o-mini'] });
      expect(two!.message).to.contain('matches 2 models');
      // Regexes match whole names: `gpt-4` is no prefix match.
      expect(none).to.deep.include({ status: 'config_error', matched_models: [] });
      expect(none!.message).to.contain('none');
    });

    it('marks no_provider when the group has no active upstream key or is disabled', async function () {
      const noKeys = await insertGroup('empty', ['gpt-4o']);
      await insertApiKey(noKeys, 'auto_disabled');
      const disabled = await insertGroup('off', ['gpt-4o'], { status: 'disabled' });
      await insertApiKey(disabled);
      const res = await create({ candidates: [exact(noKeys, 'gpt-4o'), exact(disabled, 'gpt-4o')] });
      expect(res.status).to.equal(201);
      const [a, b] = res.body.candidates.map((c) => c.resolution);
      expect(a).to.deep.include({ status: 'no_provider', matched_models: ['gpt-4o'], upstream_model: 'gpt-4o', upstreams: {} });
      expect(a!.message).to.contain('no active upstream api key');
      expect(b).to.include({ status: 'no_provider' });
      expect(b!.message).to.contain('disabled');
    });

    it("shows the groups' current state on every read", async function () {
      const created = await create({ candidates: [exact(openai, 'gpt-5')] });
      expect(created.body.candidates[0]!.resolution.status).to.equal('config_error');
      await testEnv().knex('provider_groups').where('id', openai).update({ models: ['gpt-5'] });
      const got = await call<BindingDto>('GET', `/admin/bindings/${created.body.id}`);
      expect(got.body.candidates[0]!.resolution).to.include({ status: 'active', upstream_model: 'gpt-5' });
      await testEnv().knex('provider_groups').where('id', openai).delete();
      const gone = await call<BindingDto>('GET', `/admin/bindings/${created.body.id}`);
      expect(gone.body.candidates[0]!.resolution).to.include({ status: 'no_provider' });
      expect(gone.body.candidates[0]!.resolution.message).to.contain('no longer exists');
    });

    it('refuses a regex that does not compile, naming body.candidates.N.selector_value', async function () {
      const res = await create({
        candidates: [exact(openai, 'o3'), { group_id: openai, selector_type: 'regex', selector_value: 'gpt-(4o' }],
      });
      expect(res.status).to.equal(400);
      expect(res.body.error.code).to.equal('validation_failed');
      expect(fields(res.body)).to.deep.equal(['body.candidates.1.selector_value']);
      expect(await outbox()).to.have.length(0);
      expect(await testEnv().knex('bindings').count<Array<{ count: number }>>('* as count')).to.deep.equal([{ count: 0 }]);
    });

    it('refuses unknown provider groups and unknown namespaces, naming the fields', async function () {
      const group = await create({ candidates: [exact(openai, 'o3'), exact(987_654, 'o3')] });
      expect(group.status).to.equal(400);
      expect(fields(group.body)).to.deep.equal(['body.candidates.1.group_id']);
      expect(group.body.error.details![0]!.message).to.contain('987654');
      const ns = await create({ namespace: 'nowhere', candidates: [exact(openai, 'o3')] });
      expect(ns.status).to.equal(400);
      expect(fields(ns.body)).to.deep.equal(['body.namespace']);
      expect(await outbox()).to.have.length(0);
    });

    it('accepts a namespace created beforehand', async function () {
      expect((await call('POST', '/admin/namespaces', { name: 'team-a' })).status).to.equal(201);
      const res = await create({ namespace: 'team-a', candidates: [exact(openai, 'o3')] });
      expect(res.status).to.equal(201);
      expect(res.body.namespace).to.equal('team-a');
    });

    it('refuses wrong types, unknown fields and missing fields, naming each', async function () {
      const res = await call('POST', '/admin/bindings', {
        namespace: 'a.b',
        public_model: '',
        route_group: 'a/b',
        status: 'paused',
        candidates: [{ group_id: '1', selector_type: 'glob', selector_value: '', weight: 1001 }, { group_id: openai, selector_type: 'exact', selector_value: 'o3', extra: 1 }],
      });
      expect(res.status).to.equal(400);
      expect(fields(res.body)).to.include.members([
        'body.namespace',
        'body.public_model',
        'body.route_group',
        'body.status',
        'body.candidates.0.group_id',
        'body.candidates.0.selector_type',
        'body.candidates.0.selector_value',
        'body.candidates.0.weight',
        'body.candidates.1',
      ]);
      const missing = await call('POST', '/admin/bindings', { namespace: 'default' });
      expect(fields(missing.body)).to.include.members(['body.public_model', 'body.candidates']);
      const empty = await create({ candidates: [] });
      expect(fields(empty.body)).to.deep.equal(['body.candidates']);
      const unknown = await create({ candidates: [exact(openai, 'o3')], priority: 1 });
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error.details![0]!.message).to.contain('priority');
      // 51 candidates are refused by the schema (the test api's small body limit is below such a body).
      const many = createBindingSchema.safeParse({ namespace: 'default', public_model: 'x', candidates: Array.from({ length: 51 }, () => exact(1, 'o3')) });
      expect(many.success).to.equal(false);
      expect(many.error!.issues.map((i) => i.path.join('.'))).to.deep.equal(['candidates']);
    });

    it('refuses a second binding of the same model in the same namespace with 409', async function () {
      expect((await create({ candidates: [exact(openai, 'o3')] })).status).to.equal(201);
      const dup = await create({ candidates: [exact(openai, 'o3')] });
      expect(dup.status).to.equal(409);
      expect(dup.body.error.code).to.equal('conflict');
      expect(dup.body.error.message).to.contain('"gpt-4o"');
      expect(fields(dup.body)).to.deep.equal(['body.public_model']);
      await call('POST', '/admin/namespaces', { name: 'other' });
      expect((await create({ namespace: 'other', candidates: [exact(openai, 'o3')] })).status).to.equal(201);
    });
  });

  describe('GET', function () {
    it('lists newest first, filtered by namespace, public_model and status, with resolutions', async function () {
      await call('POST', '/admin/namespaces', { name: 'ns2' });
      await create({ public_model: 'a', candidates: [exact(openai, 'o3')] });
      await create({ public_model: 'b', status: 'disabled', candidates: [exact(openai, 'nope')] });
      await create({ namespace: 'ns2', public_model: 'a', candidates: [exact(openai, 'o3')] });
      const all = await call<Page<BindingDto>>('GET', '/admin/bindings');
      expect(all.status).to.equal(200);
      expect(all.body.data.map((b) => `${b.namespace}.${b.public_model}`)).to.deep.equal(['ns2.a', 'default.b', 'default.a']);
      expect(all.body.pagination).to.deep.equal({ limit: 50, offset: 0, total: 3 });
      expect(all.body.data.map((b) => b.candidates[0]!.resolution.status)).to.deep.equal(['active', 'config_error', 'active']);
      const byNs = await call<Page<BindingDto>>('GET', '/admin/bindings?namespace=default');
      expect(byNs.body.data.map((b) => b.public_model)).to.deep.equal(['b', 'a']);
      const byModel = await call<Page<BindingDto>>('GET', '/admin/bindings?public_model=a');
      expect(byModel.body.data.map((b) => b.namespace)).to.deep.equal(['ns2', 'default']);
      const byStatus = await call<Page<BindingDto>>('GET', '/admin/bindings?status=disabled');
      expect(byStatus.body.data.map((b) => b.public_model)).to.deep.equal(['b']);
      const page = await call<Page<BindingDto>>('GET', '/admin/bindings?limit=1&offset=2');
      expect(page.body.data.map((b) => `${b.namespace}.${b.public_model}`)).to.deep.equal(['default.a']);
      expect(page.body.pagination.total).to.equal(3);
    });

    it('refuses bad filters and ids', async function () {
      const res = await call('GET', '/admin/bindings?status=on&namespace=a.b&limit=500');
      expect(fields(res.body)).to.include.members(['query.status', 'query.namespace', 'query.limit']);
      expect((await call('GET', '/admin/bindings/777')).status).to.equal(404);
      expect(fields((await call('GET', '/admin/bindings/seven')).body)).to.deep.equal(['params.id']);
    });
  });

  describe('PATCH', function () {
    it('changes the given fields, replaces candidates and re-resolves them', async function () {
      const created = await create({ candidates: [exact(openai, 'o3')] });
      const other = await insertGroup('other', ['gpt-4o']);
      const otherKey = await insertApiKey(other);
      const res = await call<BindingDto>('PATCH', `/admin/bindings/${created.body.id}`, {
        status: 'disabled',
        route_group: 'vip',
        candidates: [exact(other, 'gpt-4o', { weight: 0 })],
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ status: 'disabled', route_group: 'vip', public_model: 'gpt-4o' });
      expect(res.body.candidates).to.have.length(1);
      expect(res.body.candidates[0]).to.include({ group_id: other, weight: 0 });
      expect(res.body.candidates[0]!.resolution).to.deep.include({ status: 'active', route_group: 'vip', upstreams: { [String(otherKey)]: 'gpt-4o' } });
      expect(await outbox()).to.have.length(2);
      const events = await audit();
      expect(events[1]).to.deep.include({
        action: 'binding.update',
        object_id: String(created.body.id),
        metadata: { namespace: 'default', public_model: 'gpt-4o', fields: ['candidates', 'route_group', 'status'] },
      });
    });

    it('refuses empty changes, bad regexes, unknown namespaces, unknown ids and duplicates', async function () {
      const a = await create({ public_model: 'a', candidates: [exact(openai, 'o3')] });
      await create({ public_model: 'b', candidates: [exact(openai, 'o3')] });
      expect((await call('PATCH', `/admin/bindings/${a.body.id}`, {})).status).to.equal(400);
      const regex = await call('PATCH', `/admin/bindings/${a.body.id}`, { candidates: [{ group_id: openai, selector_type: 'regex', selector_value: '[' }] });
      expect(fields(regex.body)).to.deep.equal(['body.candidates.0.selector_value']);
      const ns = await call('PATCH', `/admin/bindings/${a.body.id}`, { namespace: 'ghost' });
      expect(fields(ns.body)).to.deep.equal(['body.namespace']);
      expect((await call('PATCH', '/admin/bindings/4242', { status: 'active' })).status).to.equal(404);
      const dup = await call('PATCH', `/admin/bindings/${a.body.id}`, { public_model: 'b' });
      expect(dup.status).to.equal(409);
      expect(dup.body.error.message).to.contain('"b"');
      expect(await outbox()).to.have.length(2);
    });
  });

  describe('DELETE', function () {
    it('deletes (204), then 404, with an outbox row and a binding.delete audit event', async function () {
      const created = await create({ candidates: [exact(openai, 'o3')] });
      const res = await fetch(`${api.url}/admin/bindings/${created.body.id}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
      expect(res.status).to.equal(204);
      expect((await call('GET', `/admin/bindings/${created.body.id}`)).status).to.equal(404);
      expect((await call('DELETE', `/admin/bindings/${created.body.id}`)).status).to.equal(404);
      expect(await outbox()).to.deep.equal([
        { resource: 'routing', resource_id: null, action: 'upsert' },
        { resource: 'routing', resource_id: null, action: 'upsert' },
      ]);
      const events = await audit();
      expect(events[1]).to.deep.include({ action: 'binding.delete', object_id: String(created.body.id), metadata: { namespace: 'default', public_model: 'gpt-4o' } });
    });
  });
});
