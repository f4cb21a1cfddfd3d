import { expect } from 'chai';
import { PROVIDER_PRESETS } from '../../src/domain/provider-presets.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { testEnv } from '../support/hooks.js';
import { EZ_SECRET, expectFieldError, useTestApi } from './helpers.js';

interface Created {
  group: { id: number; name: string; type: string; base_url: string | null; route_group: string; models: string[]; status: string; api_key_count: number };
  api_key: { id: number; group_id: number; api_key_masked: string | null; secret_state: string; weight: number; status: string };
}

const SECRET = 'sk-ant-PRESETPLAINTEXT-0123456789abcdef';

describe('admin provider shortcuts (/admin/providers/preset, /admin/providers/custom)', () => {
  const api = useTestApi('provider-presets');
  const post = <T = Created>(path: string, body: unknown, headers?: Record<string, string>) => api.call<T>('POST', path, body, headers);

  const counts = async () => {
    const knex = testEnv().knex;
    const n = async (table: string) => Number((await knex(table).count<Array<{ n: number }>>('* as n'))[0]!.n);
    return { groups: await n('provider_groups'), keys: await n('api_keys'), audit: await n('audit_events'), outbox: await n('sync_outbox') };
  };

  describe('POST /admin/providers/preset', () => {
    const official: Array<[string, string, string]> = [
      ['openai', 'openai', 'https://api.openai.com/v1'],
      ['anthropic', 'anthropic', 'https://api.anthropic.com'],
      ['gemini', 'gemini', 'https://generativelanguage.googleapis.com'],
    ];
    for (const [preset, type, baseUrl] of official) {
      it(`creates a ${preset} group with the official endpoint, starter models and one masked key`, async () => {
        const reply = await post('/admin/providers/preset', { preset, api_key: SECRET });
        expect(reply.status, reply.text).to.equal(201);
        expect(reply.text).to.not.include(SECRET);
        const { group, api_key } = reply.body;
        expect(group).to.include({ name: preset, type, base_url: baseUrl, route_group: 'default', status: 'active', api_key_count: 1 });
        expect(group.models).to.deep.equal([...PROVIDER_PRESETS[preset as keyof typeof PROVIDER_PRESETS].models]);
        expect(group.models.length).to.be.greaterThan(0);
        expect(api_key).to.include({ group_id: group.id, api_key_masked: 'sk-a…cdef', secret_state: 'ok', weight: 1, status: 'active' });

        const row = (await testEnv().knex('api_keys').where('id', api_key.id).first()) as { secret_ciphertext: Buffer; secret_nonce: Buffer; key_version: number };
        expect(row.secret_ciphertext.includes(Buffer.from(SECRET))).to.equal(false);
        const opened = new SecretBox(EZ_SECRET).open(
          { ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, keyVersion: row.key_version },
          SecretBox.aad('api_keys', api_key.id, 'secret'),
        );
        expect(opened).to.equal(SECRET);

        // One write: one audit event, one routing outbox row.
        expect(await counts()).to.deep.equal({ groups: 1, keys: 1, audit: 1, outbox: 1 });
        const event = await testEnv().knex('audit_events').first();
        expect(event).to.include({ action: 'provider.preset', object_type: 'provider_group', object_id: String(group.id) });
        expect(event.metadata).to.deep.equal({ preset, name: preset, api_key_id: api_key.id });
        expect(JSON.stringify(event)).to.not.include(SECRET);
        const outbox = await testEnv().knex('sync_outbox').first();
        expect(outbox).to.include({ resource: 'routing', action: 'upsert' });
      });
    }

    it('takes a name, a routing group and a model list that replaces the starter list', async () => {
      const reply = await post('/admin/providers/preset', {
        preset: ' OpenAI ',
        name: 'openai-vip',
        api_key: SECRET,
        route_group: 'vip',
        models: ['gpt-4o', 'gpt-4o', ' o3 '],
      });
      expect(reply.status, reply.text).to.equal(201);
      expect(reply.body.group).to.include({ name: 'openai-vip', route_group: 'vip', type: 'openai' });
      expect(reply.body.group.models).to.deep.equal(['gpt-4o', 'o3']);
    });

    it('answers 409 naming body.name when the group name is taken, and writes nothing', async () => {
      expect((await post('/admin/providers/preset', { preset: 'openai', api_key: SECRET })).status).to.equal(201);
      const before = await counts();
      const reply = await post('/admin/providers/preset', { preset: 'openai', api_key: 'sk-another-0123456789abcdef' });
      expectFieldError(reply, 'body.name', 409, 'conflict');
      expect(await counts()).to.deep.equal(before);
      expect((await post('/admin/providers/preset', { preset: 'openai', name: 'openai-2', api_key: SECRET })).status).to.equal(201);
    });

    it('refuses bad input, naming the field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ api_key: SECRET }, 'body.preset'],
        [{ preset: 'azure', api_key: SECRET }, 'body.preset'],
        [{ preset: 1, api_key: SECRET }, 'body.preset'],
        [{ preset: 'openai' }, 'body.api_key'],
        [{ preset: 'openai', api_key: '' }, 'body.api_key'],
        [{ preset: 'openai', api_key: ['sk'] }, 'body.api_key'],
        [{ preset: 'openai', api_key: SECRET, name: 'bad name' }, 'body.name'],
        [{ preset: 'openai', api_key: SECRET, route_group: 'A.B' }, 'body.route_group'],
        [{ preset: 'openai', api_key: SECRET, models: 'gpt-4o' }, 'body.models'],
        [{ preset: 'openai', api_key: SECRET, base_url: 'https://evil.example.com' }, 'body'],
      ];
      for (const [body, field] of cases) {
        const reply = await post('/admin/providers/preset', body);
        expectFieldError(reply, field);
        expect(reply.text).to.not.include(SECRET);
      }
      expect(await counts()).to.deep.equal({ groups: 0, keys: 0, audit: 0, outbox: 0 });
    });

    it('requires admin credentials', async () => {
      expect((await post('/admin/providers/preset', { preset: 'openai', api_key: SECRET }, {})).status).to.equal(401);
    });
  });

  describe('POST /admin/providers/custom', () => {
    const custom = (over: Record<string, unknown> = {}) => ({ name: 'vllm', base_url: 'http://10.0.0.7:8000/v1/', api_key: SECRET, models: ['llama-3.1-70b'], ...over });

    it('creates a compatible group with the normalised base URL and one masked key', async () => {
      const reply = await post('/admin/providers/custom', custom({ route_group: 'lab' }));
      expect(reply.status, reply.text).to.equal(201);
      expect(reply.text).to.not.include(SECRET);
      expect(reply.body.group).to.include({ name: 'vllm', type: 'compatible', base_url: 'http://10.0.0.7:8000/v1', route_group: 'lab', api_key_count: 1 });
      expect(reply.body.group.models).to.deep.equal(['llama-3.1-70b']);
      expect(reply.body.api_key.api_key_masked).to.equal('sk-a…cdef');
      expect(await counts()).to.deep.equal({ groups: 1, keys: 1, audit: 1, outbox: 1 });
      const event = await testEnv().knex('audit_events').first();
      expect(event).to.include({ action: 'provider.custom', object_id: String(reply.body.group.id) });
      expect(JSON.stringify(event)).to.not.include(SECRET);
    });

    it('refuses cloud metadata URLs and other bad base URLs, naming body.base_url', async () => {
      for (const base_url of ['http://169.254.169.254/v1', 'http://2852039166/', 'http://metadata.google.internal/', 'http://[fd00:ec2::254]/', 'http://u:p@h/v1', 'https://h/v1?x=1', 'gopher://h']) {
        expectFieldError(await post('/admin/providers/custom', custom({ base_url })), 'body.base_url');
      }
      expect(await counts()).to.deep.equal({ groups: 0, keys: 0, audit: 0, outbox: 0 });
    });

    it('refuses missing, wrong and unknown fields, naming the field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ ...custom(), name: undefined }, 'body.name'],
        [{ ...custom(), base_url: undefined }, 'body.base_url'],
        [{ ...custom(), api_key: undefined }, 'body.api_key'],
        [{ ...custom(), models: undefined }, 'body.models'],
        [{ ...custom(), models: [] }, 'body.models'],
        [{ ...custom(), models: [''] }, 'body.models.0'],
        [{ ...custom(), type: 'openai' }, 'body'],
        [{ ...custom(), base_url: 8000 }, 'body.base_url'],
      ];
      for (const [body, field] of cases) {
        expectFieldError(await post('/admin/providers/custom', body), field);
      }
    });

    it('rolls the whole write back on a duplicate name', async () => {
      expect((await post('/admin/providers/custom', custom())).status).to.equal(201);
      const reply = await post('/admin/providers/custom', custom({ api_key: 'sk-second-0123456789abcdef' }));
      expectFieldError(reply, 'body.name', 409, 'conflict');
      expect(await counts()).to.deep.equal({ groups: 1, keys: 1, audit: 1, outbox: 1 });
    });
  });
});
