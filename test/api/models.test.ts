import { expect } from 'chai';
import type { ModelDto } from '../../src/domain/models.service.js';
import { testEnv } from '../support/hooks.js';
import { outboxEntries } from './fixtures.js';
import { ADMIN_TOKEN, bearer, fields, useTestApi, type ErrorJson, type Page } from './helpers.js';

describe('/admin/models', function () {
  const api = useTestApi<ErrorJson>('models-test');
  const { call } = api;
  const outbox = outboxEntries;
  const audit = () => testEnv().knex('audit_events').select('actor_type', 'actor_id', 'action', 'object_type', 'object_id', 'metadata').orderBy('id');

  describe('POST', function () {
    it('registers a model with defaults, one routing outbox row and a model.create audit event', async function () {
      const res = await call<ModelDto>('POST', '/admin/models', { name: '  gpt-4o ', context_window: 128_000, price_input: 2.5, price_output: 10 });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({
        name: 'gpt-4o',
        kind: 'chat',
        context_window: 128_000,
        max_output_tokens: null,
        supports_stream: true,
        supports_vision: false,
        supports_functions: false,
        supports_tool_choice: false,
        supports_fim: false,
        price_input: 2.5,
        price_output: 10,
        price_cache_read: 0,
        price_cache_write: 0,
        price_per_request: 0,
      });
      expect(res.body.id).to.be.a('number');
      expect(res.body.created_at).to.match(/^\d{4}-\d\d-\d\dT/);
      expect(await outbox()).to.deep.equal([{ resource: 'routing', resource_id: null, action: 'upsert' }]);
      expect(await audit()).to.deep.equal([
        { actor_type: 'admin', actor_id: 'bootstrap', action: 'model.create', object_type: 'model', object_id: String(res.body.id), metadata: { name: 'gpt-4o' } },
      ]);
    });

    it('keeps fractional prices exactly as given', async function () {
      const res = await call<ModelDto>('POST', '/admin/models', { name: 'cheap', kind: 'embedding', price_input: 0.02, price_per_request: 0.0001 });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ kind: 'embedding', price_input: 0.02, price_per_request: 0.0001 });
    });

    it('refuses wrong types, naming each field', async function () {
      const res = await call('POST', '/admin/models', {
        name: 42,
        kind: 'image',
        context_window: 0,
        max_output_tokens: 1.5,
        supports_vision: 'yes',
        price_input: -1,
        price_cache_write: '3',
      });
      expect(res.status).to.equal(400);
      expect(res.body.error.code).to.equal('validation_failed');
      expect(fields(res.body)).to.include.members([
        'body.name',
        'body.kind',
        'body.context_window',
        'body.max_output_tokens',
        'body.supports_vision',
        'body.price_input',
        'body.price_cache_write',
      ]);
      expect(await outbox()).to.have.length(0);
    });

    it('refuses a missing or over-long name and unknown fields', async function () {
      const missing = await call('POST', '/admin/models', { kind: 'chat' });
      expect(missing.status).to.equal(400);
      expect(fields(missing.body)).to.deep.equal(['body.name']);
      const long = await call('POST', '/admin/models', { name: 'x'.repeat(201) });
      expect(fields(long.body)).to.deep.equal(['body.name']);
      const blank = await call('POST', '/admin/models', { name: '   ' });
      expect(fields(blank.body)).to.deep.equal(['body.name']);
      const unknown = await call('POST', '/admin/models', { name: 'a', price: 3 });
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error.details![0]!.message).to.contain('price');
      const noBody = await call('POST', '/admin/models');
      expect(fields(noBody.body)).to.deep.equal(['body']);
    });

    it('refuses a duplicate name with 409 naming the field', async function () {
      expect((await call('POST', '/admin/models', { name: 'dup' })).status).to.equal(201);
      const res = await call('POST', '/admin/models', { name: 'dup', kind: 'rerank' });
      expect(res.status).to.equal(409);
      expect(res.body.error.code).to.equal('conflict');
      expect(res.body.error.message).to.contain('"dup"');
      expect(fields(res.body)).to.deep.equal(['body.name']);
      expect(await outbox()).to.have.length(1);
    });

    it('needs the admin token', async function () {
      const res = await fetch(`${api.url}/admin/models`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"a"}' });
      expect(res.status).to.equal(401);
    });
  });

  describe('GET', function () {
    it('gets one model, 404 for an unknown id and 400 for a malformed one', async function () {
      const created = await call<ModelDto>('POST', '/admin/models', { name: 'm1' });
      const got = await call<ModelDto>('GET', `/admin/models/${created.body.id}`);
      expect(got.status).to.equal(200);
      expect(got.body).to.deep.equal(created.body);
      const missing = await call('GET', '/admin/models/999999');
      expect(missing.status).to.equal(404);
      expect(missing.body.error).to.deep.equal({ code: 'not_found', message: 'model 999999 not found' });
      for (const bad of ['abc', '0', '-1', '1.5']) {
        const res = await call('GET', `/admin/models/${bad}`);
        expect(res.status, bad).to.equal(400);
        expect(fields(res.body)).to.deep.equal(['params.id']);
      }
    });

    it('lists newest first with kind and q filters and offset pagination', async function () {
      for (const [name, kind] of [
        ['gpt-4o', 'chat'],
        ['gpt-4o-mini', 'chat'],
        ['text-embedding-3', 'embedding'],
        ['rerank_v1', 'rerank'],
        ['rerankXv1', 'rerank'],
      ] as const) {
        expect((await call('POST', '/admin/models', { name, kind })).status).to.equal(201);
      }
      const all = await call<Page<ModelDto>>('GET', '/admin/models');
      expect(all.body.data.map((m) => m.name)).to.deep.equal(['rerankXv1', 'rerank_v1', 'text-embedding-3', 'gpt-4o-mini', 'gpt-4o']);
      expect(all.body.pagination).to.deep.equal({ limit: 50, offset: 0, total: 5 });

      const chats = await call<Page<ModelDto>>('GET', '/admin/models?kind=chat');
      expect(chats.body.data.map((m) => m.name)).to.deep.equal(['gpt-4o-mini', 'gpt-4o']);
      const q = await call<Page<ModelDto>>('GET', '/admin/models?q=GPT-4O-');
      expect(q.body.data.map((m) => m.name)).to.deep.equal(['gpt-4o-mini']);
      // `_` is literal, not a LIKE wildcard.
      const literal = await call<Page<ModelDto>>('GET', '/admin/models?q=rerank_');
      expect(literal.body.data.map((m) => m.name)).to.deep.equal(['rerank_v1']);

      const page = await call<Page<ModelDto>>('GET', '/admin/models?limit=2&offset=2');
      expect(page.body.data.map((m) => m.name)).to.deep.equal(['text-embedding-3', 'gpt-4o-mini']);
      expect(page.body.pagination).to.deep.equal({ limit: 2, offset: 2, total: 5 });
    });

    it('refuses bad list parameters, naming them', async function () {
      const res = await call('GET', '/admin/models?limit=0&offset=-1&kind=image');
      expect(res.status).to.equal(400);
      expect(fields(res.body)).to.include.members(['query.limit', 'query.offset', 'query.kind']);
      expect((await call('GET', '/admin/models?limit=201')).status).to.equal(400);
      const unknown = await call('GET', '/admin/models?sort=name');
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error.details![0]!.message).to.contain('sort');
    });
  });

  describe('PATCH', function () {
    it('changes only the given fields, with an audit event naming them', async function () {
      const created = await call<ModelDto>('POST', '/admin/models', { name: 'm', price_input: 1 });
      const res = await call<ModelDto>('PATCH', `/admin/models/${created.body.id}`, { supports_vision: true, price_output: 4, context_window: null });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ name: 'm', supports_vision: true, price_input: 1, price_output: 4, context_window: null });
      expect(Date.parse(res.body.updated_at)).to.be.at.least(Date.parse(created.body.updated_at));
      expect(await outbox()).to.have.length(2);
      const events = await audit();
      expect(events[1]).to.deep.include({ action: 'model.update', object_id: String(created.body.id), metadata: { name: 'm', fields: ['context_window', 'price_output', 'supports_vision'] } });
    });

    it('refuses an empty change, bad values, unknown ids and duplicate names', async function () {
      const a = await call<ModelDto>('POST', '/admin/models', { name: 'a' });
      await call('POST', '/admin/models', { name: 'b' });
      const empty = await call('PATCH', `/admin/models/${a.body.id}`, {});
      expect(empty.status).to.equal(400);
      const bad = await call('PATCH', `/admin/models/${a.body.id}`, { price_input: -0.5, kind: 7 });
      expect(fields(bad.body)).to.include.members(['body.price_input', 'body.kind']);
      const unknown = await call('PATCH', '/admin/models/424242', { kind: 'other' });
      expect(unknown.status).to.equal(404);
      const dup = await call('PATCH', `/admin/models/${a.body.id}`, { name: 'b' });
      expect(dup.status).to.equal(409);
      expect(fields(dup.body)).to.deep.equal(['body.name']);
      expect(await outbox()).to.have.length(2);
    });
  });

  describe('DELETE', function () {
    it('deletes (204), then 404; each delete leaves an outbox row and an audit event', async function () {
      const created = await call<ModelDto>('POST', '/admin/models', { name: 'gone' });
      const res = await fetch(`${api.url}/admin/models/${created.body.id}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
      expect(res.status).to.equal(204);
      expect(await res.text()).to.equal('');
      expect((await call('GET', `/admin/models/${created.body.id}`)).status).to.equal(404);
      expect((await call('DELETE', `/admin/models/${created.body.id}`)).status).to.equal(404);
      expect(await outbox()).to.deep.equal([
        { resource: 'routing', resource_id: null, action: 'upsert' },
        { resource: 'routing', resource_id: null, action: 'upsert' },
      ]);
      expect((await audit()).map((e) => e.action)).to.deep.equal(['model.create', 'model.delete']);
    });
  });

  it('documents every registry route in /openapi.json', async function () {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const [path, methods] of Object.entries({
      '/admin/models': ['get', 'post'],
      '/admin/models/{id}': ['get', 'patch', 'delete'],
      '/admin/namespaces': ['get', 'post'],
      '/admin/namespaces/{id}': ['get', 'patch', 'delete'],
      '/admin/bindings': ['get', 'post'],
      '/admin/bindings/{id}': ['get', 'patch', 'delete'],
      '/admin/features': ['get', 'put'],
      '/admin/audit': ['get'],
    })) {
      expect(doc.paths, path).to.have.property(path);
      expect(doc.paths[path], path).to.have.keys(...methods);
    }
  });
});
