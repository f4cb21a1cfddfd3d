import { expect } from 'chai';
import type { GroupSource } from '../../src/domain/sync/projections.js';
import { testEnv } from '../support/hooks.js';
import { createProviderGroup } from './fixtures.js';
import { bearer, expectFieldError, useTestApi, type ErrorJson, type Page } from './helpers.js';

interface Group extends GroupSource {
  api_key_count: number;
  created_at: string;
  updated_at: string;
}

describe('admin provider groups (/admin/provider-groups)', () => {
  const api = useTestApi('provider-groups');
  const { call } = api;

  const openai = (over: Record<string, unknown> = {}) => ({ name: 'openai-main', type: 'openai', base_url: 'https://api.openai.com/v1', models: ['gpt-4o'], ...over });
  const create = (over: Record<string, unknown> = {}) => createProviderGroup<Group>(api, openai(over));
  const outbox = async () => testEnv().knex('sync_outbox').select('resource', 'action', 'resource_id').orderBy('id');
  // Untyped rows: the tests read metadata fields freely.
  const audits = async () => testEnv().knex('audit_events').select('*').orderBy('id');

  describe('POST', () => {
    it('creates a group with normalised type, base_url and models, and records one audit event and one routing outbox row', async () => {
      const reply = await call<Group>('POST', '/admin/provider-groups', {
        name: 'OpenAI.main_1',
        type: '  OpenAI ',
        base_url: 'https://api.openai.com/v1/',
        models: [' gpt-4o ', 'gpt-4o', 'gpt-4o-mini'],
        connect_timeout_ms: 5_000,
      });
      expect(reply.status, reply.text).to.equal(201);
      const group = reply.body;
      expect(group).to.include({
        name: 'OpenAI.main_1',
        type: 'openai',
        route_group: 'default',
        base_url: 'https://api.openai.com/v1',
        google_project: null,
        google_location: null,
        status: 'active',
        connect_timeout_ms: 5_000,
        first_byte_timeout_ms: null,
        api_key_count: 0,
      });
      expect(group.models).to.deep.equal(['gpt-4o', 'gpt-4o-mini']);
      expect(group.id).to.be.a('number');
      expect(group.created_at).to.be.a('string');

      expect(await outbox()).to.deep.equal([{ resource: 'routing', action: 'upsert', resource_id: null }]);
      const events = await audits();
      expect(events).to.have.length(1);
      expect(events[0]).to.include({ action: 'provider_group.create', actor_type: 'admin', actor_id: 'bootstrap', object_type: 'provider_group', object_id: String(group.id) });
      expect(events[0].request_id).to.equal(reply.headers.get('x-request-id'));
    });

    it('accepts every provider type of DESIGN §4 with what the type needs', async () => {
      const types: Array<Record<string, unknown>> = [
        { type: 'openai', base_url: 'https://api.openai.com/v1' },
        { type: 'compatible', base_url: 'http://127.0.0.1:8000/v1' },
        { type: 'anthropic', base_url: 'https://api.anthropic.com' },
        { type: 'claude', base_url: 'https://api.anthropic.com' },
        { type: 'claude-code' },
        { type: 'codex' },
        { type: 'gemini-cli', google_project: 'code-assist-1' },
        { type: 'antigravity' },
        { type: 'gemini' },
        { type: 'google' },
        { type: 'aistudio' },
        { type: 'vertex', google_project: 'my-project' },
        { type: 'vertex-express' },
      ];
      for (const [i, t] of types.entries()) {
        const reply = await call<Group>('POST', '/admin/provider-groups', { name: `g${i}`, ...t });
        expect(reply.status, `${String(t.type)}: ${reply.text}`).to.equal(201);
        expect(reply.body.type).to.equal(t.type);
      }
    });

    it('defaults the location of Vertex types to global and requires a project for vertex', async () => {
      const vertex = await create({ name: 'vx', type: 'vertex', base_url: undefined, google_project: 'proj-1' });
      expect(vertex).to.include({ google_project: 'proj-1', google_location: 'global', base_url: null });
      const express = await create({ name: 'vx-express', type: 'vertex-express', base_url: undefined });
      expect(express.google_location).to.equal('global');
      const located = await create({ name: 'vx-eu', type: 'VERTEX', base_url: undefined, google_project: 'proj-1', google_location: 'europe-west4' });
      expect(located.google_location).to.equal('europe-west4');
      const gemini = await create({ name: 'gem', type: 'gemini', base_url: undefined });
      expect(gemini).to.include({ google_location: null, base_url: null });

      expectFieldError(await call('POST', '/admin/provider-groups', { name: 'vx2', type: 'vertex' }), 'body.google_project');
    });

    it('requires base_url for openai, compatible, anthropic and claude', async () => {
      for (const type of ['openai', 'compatible', 'anthropic', 'claude']) {
        expectFieldError(await call('POST', '/admin/provider-groups', { name: `n-${type}`, type }), 'body.base_url');
        expectFieldError(await call('POST', '/admin/provider-groups', { name: `n-${type}`, type, base_url: null }), 'body.base_url');
      }
    });

    it('refuses Google fields on other types', async () => {
      expectFieldError(await call('POST', '/admin/provider-groups', openai({ google_project: 'p' })), 'body.google_project');
      expectFieldError(await call('POST', '/admin/provider-groups', openai({ google_location: 'global' })), 'body.google_location');
    });

    it('refuses cloud metadata and otherwise bad base URLs, naming body.base_url', async () => {
      const bad = [
        'http://169.254.169.254/latest/meta-data',
        'http://2852039166/',
        'http://0xA9FEA9FE/',
        'http://[fd00:ec2::254]/',
        'http://metadata.google.internal/computeMetadata/v1',
        'http://metadata/',
        'http://user:pw@example.com/v1',
        'https://example.com/v1?key=1',
        'https://example.com/v1#x',
        'ftp://example.com',
        'not a url',
        '',
      ];
      for (const base_url of bad) {
        const reply = await call('POST', '/admin/provider-groups', openai({ base_url }));
        expectFieldError(reply, 'body.base_url');
      }
      const [row] = await testEnv().knex('provider_groups').count<Array<{ count: number | string }>>('* as count');
      expect(Number(row?.count)).to.equal(0);
    });

    it('allows loopback and private addresses for self-hosted models', async () => {
      const local = await create({ name: 'ollama', type: 'compatible', base_url: 'http://localhost:11434/v1/' });
      expect(local.base_url).to.equal('http://localhost:11434/v1');
      const lan = await create({ name: 'vllm', type: 'compatible', base_url: 'http://10.1.2.3:8000' });
      expect(lan.base_url).to.equal('http://10.1.2.3:8000');
    });

    it('answers 409 naming body.name for a duplicate name, and writes nothing', async () => {
      await create();
      const reply = await call('POST', '/admin/provider-groups', openai());
      expectFieldError(reply, 'body.name', 409, 'conflict');
      expect((reply.body as ErrorJson).error.message).to.include('openai-main');
      expect(await outbox()).to.have.length(1);
      expect(await audits()).to.have.length(1);
    });

    it('refuses wrong types, unknown and missing fields, and bad values, naming each field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ ...openai(), name: 5 }, 'body.name'],
        [{ ...openai(), name: 'has space' }, 'body.name'],
        [{ ...openai(), name: 'x'.repeat(65) }, 'body.name'],
        [{ ...openai(), name: 'a#1' }, 'body.name'],
        [{ ...openai(), type: 'azure' }, 'body.type'],
        [{ ...openai(), type: 7 }, 'body.type'],
        [{ ...openai(), route_group: 'Tier.1' }, 'body.route_group'],
        [{ ...openai(), route_group: 'a/b' }, 'body.route_group'],
        [{ ...openai(), route_group: '' }, 'body.route_group'],
        [{ ...openai(), models: 'gpt-4o' }, 'body.models'],
        [{ ...openai(), models: ['gpt-4o', '  '] }, 'body.models.1'],
        [{ ...openai(), models: [1] }, 'body.models.0'],
        [{ ...openai(), status: 'paused' }, 'body.status'],
        [{ ...openai(), connect_timeout_ms: 0 }, 'body.connect_timeout_ms'],
        [{ ...openai(), connect_timeout_ms: 60_001 }, 'body.connect_timeout_ms'],
        [{ ...openai(), request_timeout_ms: 1.5 }, 'body.request_timeout_ms'],
        [{ ...openai(), idle_timeout_ms: '100' }, 'body.idle_timeout_ms'],
        [{ ...openai(), base_url: 42 }, 'body.base_url'],
        [{ ...openai(), google_location: 'Not Valid' }, 'body.google_location'],
        [{ ...openai(), api_key: 'sk-secret' }, 'body'],
        [{ type: 'openai', base_url: 'https://api.openai.com/v1' }, 'body.name'],
        [{ name: 'x' }, 'body.type'],
      ];
      for (const [body, field] of cases) {
        const reply = await call('POST', '/admin/provider-groups', body);
        expectFieldError(reply, field);
      }
      // A missing or non-object body.
      expectFieldError(await call('POST', '/admin/provider-groups', []), 'body');
      expect((await call('POST', '/admin/provider-groups')).status).to.equal(400);
    });

    it('names the unknown field', async () => {
      const reply = await call('POST', '/admin/provider-groups', openai({ colour: 'blue' }));
      expect(reply.status).to.equal(400);
      expect(reply.text).to.include('colour');
    });

    it('requires admin credentials', async () => {
      expect((await call('POST', '/admin/provider-groups', openai(), {})).status).to.equal(401);
      expect((await call('GET', '/admin/provider-groups', undefined, bearer('wrong'))).status).to.equal(401);
    });
  });

  describe('GET', () => {
    it('lists newest first with pagination and api key counts', async () => {
      const a = await create({ name: 'a' });
      const b = await create({ name: 'b' });
      const c = await create({ name: 'c' });
      for (const group_id of [a.id, a.id, c.id]) {
        expect((await call('POST', '/admin/api-keys', { group_id, api_key: 'sk-test-0123456789abcdef' })).status).to.equal(201);
      }
      const page = await call<Page<Group>>('GET', '/admin/provider-groups?limit=2');
      expect(page.status).to.equal(200);
      expect(page.body.pagination).to.deep.equal({ limit: 2, offset: 0, total: 3 });
      expect(page.body.data.map((g) => [g.name, g.api_key_count])).to.deep.equal([
        ['c', 1],
        ['b', 0],
      ]);
      const next = await call<Page<Group>>('GET', '/admin/provider-groups?limit=2&offset=2');
      expect(next.body.data.map((g) => [g.name, g.api_key_count])).to.deep.equal([['a', 2]]);
      expect(b.api_key_count).to.equal(0);
    });

    it('filters by status, type and route_group', async () => {
      await create({ name: 'o1' });
      await create({ name: 'o2', status: 'disabled' });
      await create({ name: 'an', type: 'anthropic', base_url: 'https://api.anthropic.com', route_group: 'vip' });
      const names = async (query: string) => (await call<Page<Group>>('GET', `/admin/provider-groups?${query}`)).body.data.map((g) => g.name);
      expect(await names('status=disabled')).to.deep.equal(['o2']);
      expect(await names('type=openai')).to.deep.equal(['o2', 'o1']);
      expect(await names('type=ANTHROPIC')).to.deep.equal(['an']);
      expect(await names('route_group=vip')).to.deep.equal(['an']);
      expect(await names('route_group=default&status=active')).to.deep.equal(['o1']);
      const total = await call<Page<Group>>('GET', '/admin/provider-groups?type=openai&limit=1');
      expect(total.body.pagination.total).to.equal(2);
    });

    it('refuses bad filters and pagination, naming the query field', async () => {
      expectFieldError(await call('GET', '/admin/provider-groups?status=paused'), 'query.status');
      expectFieldError(await call('GET', '/admin/provider-groups?type=azure'), 'query.type');
      expectFieldError(await call('GET', '/admin/provider-groups?limit=0'), 'query.limit');
      expectFieldError(await call('GET', '/admin/provider-groups?limit=201'), 'query.limit');
      expectFieldError(await call('GET', '/admin/provider-groups?offset=-1'), 'query.offset');
      expectFieldError(await call('GET', '/admin/provider-groups?route_group=a.b'), 'query.route_group');
    });

    it('gets one group, 404 for an unknown id and 400 for a malformed one', async () => {
      const group = await create();
      const reply = await call<Group>('GET', `/admin/provider-groups/${group.id}`);
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.equal(group);
      const missing = await call<ErrorJson>('GET', '/admin/provider-groups/999999');
      expect(missing.status).to.equal(404);
      expect(missing.body.error).to.deep.equal({ code: 'not_found', message: 'provider group 999999 not found' });
      expectFieldError(await call('GET', '/admin/provider-groups/abc'), 'params.id');
      expectFieldError(await call('GET', '/admin/provider-groups/0'), 'params.id');
    });
  });

  describe('PATCH', () => {
    it('changes the given fields only, with one audit event and one outbox row', async () => {
      const group = await create({ connect_timeout_ms: 1_000 });
      const reply = await call<Group>('PATCH', `/admin/provider-groups/${group.id}`, {
        models: ['gpt-4.1', 'gpt-4.1'],
        status: 'disabled',
        route_group: 'vip',
        base_url: 'https://proxy.example.com/openai/v1/',
        connect_timeout_ms: null,
        request_timeout_ms: 120_000,
      });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.body).to.include({
        name: 'openai-main',
        type: 'openai',
        status: 'disabled',
        route_group: 'vip',
        base_url: 'https://proxy.example.com/openai/v1',
        connect_timeout_ms: null,
        request_timeout_ms: 120_000,
      });
      expect(reply.body.models).to.deep.equal(['gpt-4.1']);
      expect(await outbox()).to.have.length(2);
      const events = await audits();
      expect(events.map((e) => e.action)).to.deep.equal(['provider_group.create', 'provider_group.update']);
      expect(events[1].metadata.changed).to.deep.equal(['base_url', 'connect_timeout_ms', 'models', 'request_timeout_ms', 'route_group', 'status']);
      expect(JSON.stringify(events[1].metadata)).to.not.include('proxy.example.com');
    });

    it('applies the type rules to the merged result', async () => {
      const group = await create();
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, { base_url: null }), 'body.base_url');
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, { type: 'vertex' }), 'body.google_project');
      const vertex = await call<Group>('PATCH', `/admin/provider-groups/${group.id}`, { type: 'vertex', google_project: 'p-1', base_url: null });
      expect(vertex.status, vertex.text).to.equal(200);
      expect(vertex.body).to.include({ type: 'vertex', google_project: 'p-1', google_location: 'global', base_url: null });
      // Back to a non-Google type: the stored Google fields go with the type.
      const back = await call<Group>('PATCH', `/admin/provider-groups/${group.id}`, { type: 'compatible', base_url: 'http://10.0.0.1:8000/v1' });
      expect(back.status, back.text).to.equal(200);
      expect(back.body).to.include({ type: 'compatible', google_project: null, google_location: null });
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, { google_project: 'p' }), 'body.google_project');
    });

    it('refuses a metadata base_url, an empty patch, unknown fields and a taken name', async () => {
      const group = await create();
      await create({ name: 'other' });
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, { base_url: 'http://[::ffff:169.254.169.254]/' }), 'body.base_url');
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, {}), 'body');
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, { name: null }), 'body.name');
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, { models: null }), 'body.models');
      expect((await call('PATCH', `/admin/provider-groups/${group.id}`, { id: 5 })).status).to.equal(400);
      expectFieldError(await call('PATCH', `/admin/provider-groups/${group.id}`, { name: 'other' }), 'body.name', 409, 'conflict');
      const unchanged = await call<Group>('GET', `/admin/provider-groups/${group.id}`);
      expect(unchanged.body).to.deep.equal(group);
    });

    it('answers 404 for an unknown id', async () => {
      const reply = await call<ErrorJson>('PATCH', '/admin/provider-groups/424242', { status: 'disabled' });
      expect(reply.status).to.equal(404);
      expect(reply.body.error.code).to.equal('not_found');
    });
  });

  describe('DELETE', () => {
    it('deletes the group and cascades its api keys, with one audit event and one outbox row', async () => {
      const group = await create();
      const keep = await create({ name: 'keep' });
      for (const group_id of [group.id, group.id, keep.id]) {
        expect((await call('POST', '/admin/api-keys', { group_id, api_key: 'sk-test-0123456789abcdef' })).status).to.equal(201);
      }
      const before = (await outbox()).length;
      const reply = await call('DELETE', `/admin/provider-groups/${group.id}`);
      expect(reply.status).to.equal(204);
      expect(reply.text).to.equal('');
      expect((await call('GET', `/admin/provider-groups/${group.id}`)).status).to.equal(404);
      const keys = await testEnv().knex('api_keys').select('group_id');
      expect(keys).to.deep.equal([{ group_id: keep.id }]);
      expect(await outbox()).to.have.length(before + 1);
      const last = (await audits()).at(-1);
      expect(last).to.include({ action: 'provider_group.delete', object_id: String(group.id) });
      expect(last.metadata).to.deep.equal({ name: 'openai-main', api_keys_deleted: 2 });
    });

    it('answers 404 for an unknown id and writes nothing', async () => {
      const reply = await call<ErrorJson>('DELETE', '/admin/provider-groups/31337');
      expect(reply.status).to.equal(404);
      expect(reply.body.error.code).to.equal('not_found');
      expect(await outbox()).to.have.length(0);
      expect(await audits()).to.have.length(0);
    });
  });

  it('documents the routes in /openapi.json', async () => {
    const doc = await call<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json');
    expect(doc.status).to.equal(200);
    expect(Object.keys(doc.body.paths['/admin/provider-groups'] ?? {})).to.have.members(['get', 'post']);
    expect(Object.keys(doc.body.paths['/admin/provider-groups/{id}'] ?? {})).to.have.members(['get', 'patch', 'delete']);
    expect(doc.body.paths['/admin/api-keys/{id}/reveal']).to.have.property('get');
    expect(doc.body.paths['/admin/providers/preset']).to.have.property('post');
    expect(doc.body.paths['/admin/providers/custom']).to.have.property('post');
  });
});
