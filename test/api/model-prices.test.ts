import { expect } from 'chai';
import type { Redis } from 'ioredis';
import type { ModelDto } from '../../src/domain/models.service.js';
import { DEFAULT_PRICE_TABLE, type PriceTable } from '../../src/domain/pricing/price-table.js';
import { loadPrices, type PriceLoadResult } from '../../src/domain/pricing/price-table.service.js';
import { PROVIDER_PRESETS } from '../../src/domain/provider-presets.js';
import type { WriteContext } from '../../src/domain/write-context.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { testEnv } from '../support/hooks.js';
import { syncNow } from '../support/sync.js';
import { audits, createProviderGroup, outboxEntries } from './fixtures.js';
import { expectFieldError, useTestApi, type Page } from './helpers.js';

const VERSION = DEFAULT_PRICE_TABLE.version;
const TABLE_SIZE = Object.keys(DEFAULT_PRICE_TABLE.models).length;
const CLI: WriteContext = { actor: { type: 'system', id: 'prices-load' } };

interface ModelRowView {
  name: string;
  kind: string;
  context_window: number | null;
  price_input: number;
  price_output: number;
  price_cache_read: number;
  price_cache_write: number;
  price_source: string;
}

const knex = () => testEnv().knex;
const modelRow = async (name: string) => (await knex()('models').where('name', name).first()) as ModelRowView | undefined;
const modelCount = async () => Number((await knex()('models').count<Array<{ n: string }>>('* as n'))[0]!.n);

/** The loader as `ez-api prices load` runs it (no sync worker here: nothing to nudge). */
const load = (table: PriceTable = DEFAULT_PRICE_TABLE, options: { overwrite?: boolean; dryRun?: boolean } = {}) =>
  loadPrices({ knex: knex(), nudge: async () => {} }, CLI, table, options);

/** The shipped table as a later version would ship it: every price changed. */
function nextVersion(): PriceTable {
  const models = Object.fromEntries(Object.entries(DEFAULT_PRICE_TABLE.models).map(([name, m]) => [name, { ...m, input_per_1m: m.input_per_1m + 1 }]));
  return { ...DEFAULT_PRICE_TABLE, version: '2099-01-01', models };
}

describe('model prices: default table, admin overrides, presets, rate multipliers', function () {
  this.timeout(30_000);
  const api = useTestApi('model-prices');
  let redis: Redis;

  before(async () => {
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'producer', 'model-prices-test');
    await waitForRedis(redis);
  });
  after(async () => {
    await closeRedis(redis);
  });
  beforeEach(async () => {
    // Outbox ids restart with the database; the version guard would skip them under an older run's config:version.
    for (const pattern of ['config:*', 'meta:*', 'auth:*']) {
      const keys = await redis.keys(pattern);
      if (keys.length > 0) await redis.del(...keys);
    }
  });

  const metaModel = async (name: string) => {
    const json = await redis.hget(RedisKeys.models, name);
    return json === null ? undefined : (JSON.parse(json) as { kind: string; context_window: number | null; prices: Record<string, number> });
  };

  describe('the loader (ez-api prices load)', () => {
    it('creates every model of the table with kind, limits, prices and price_source default:<version>', async () => {
      const result = await load();
      expect(result).to.include({ version: VERSION, dry_run: false, overwrite: false, created: TABLE_SIZE, updated: 0, unchanged: 0, skipped: 0 });
      expect(await modelCount()).to.equal(TABLE_SIZE);
      expect(await modelRow('claude-sonnet-4-20250514')).to.include({
        kind: 'chat',
        context_window: 200_000,
        price_input: 3,
        price_output: 15,
        price_cache_read: 0.3,
        price_cache_write: 3.75,
        price_source: `default:${VERSION}`,
      });
      expect(await modelRow('text-embedding-3-small')).to.include({ kind: 'embedding', price_input: 0.02, price_output: 0 });
      // One write: one audit event, one routing outbox row.
      expect(await outboxEntries()).to.deep.equal([{ resource: 'routing', resource_id: null, action: 'upsert' }]);
      const events = await audits();
      expect(events.map((e) => [e.action, e.actor_type, e.actor_id])).to.deep.equal([['model.prices_load', 'system', 'prices-load']]);
      expect(events[0]!.metadata).to.deep.equal({ version: VERSION, overwrite: false, created: TABLE_SIZE, updated: 0, unchanged: 0, skipped: 0 });
    });

    it('a second load of the same table changes nothing and records nothing', async () => {
      await load();
      const again = await load();
      expect(again).to.include({ created: 0, updated: 0, unchanged: TABLE_SIZE, skipped: 0 });
      expect(await outboxEntries()).to.have.length(1);
      expect(await audits()).to.have.length(1);
    });

    it('a newer table refreshes default prices but keeps an admin override; --overwrite replaces it', async () => {
      await load();
      const gpt4o = (await knex()('models').where('name', 'gpt-4o').first()) as { id: number };
      const patched = await api.call<ModelDto>('PATCH', `/admin/models/${gpt4o.id}`, { price_input: 2 });
      expect(patched.status, patched.text).to.equal(200);
      expect(patched.body).to.include({ price_input: 2, price_source: 'admin' });

      const next = nextVersion();
      const kept = await load(next);
      expect(kept).to.include({ version: '2099-01-01', created: 0, updated: TABLE_SIZE - 1, unchanged: 0, skipped: 1 });
      expect(kept.models.skipped).to.deep.equal(['gpt-4o']);
      expect(await modelRow('gpt-4o')).to.include({ price_input: 2, price_source: 'admin' });
      expect(await modelRow('gpt-4o-mini')).to.include({ price_input: 1.15, price_source: 'default:2099-01-01' });

      const replaced = await load(next, { overwrite: true });
      expect(replaced).to.include({ created: 0, updated: 1, unchanged: TABLE_SIZE - 1, skipped: 0, overwrite: true });
      expect(await modelRow('gpt-4o')).to.include({ price_input: 3.5, price_source: 'default:2099-01-01' });
    });

    it('a dry run counts and writes nothing', async () => {
      const dry = await load(DEFAULT_PRICE_TABLE, { dryRun: true });
      expect(dry).to.include({ dry_run: true, created: TABLE_SIZE, updated: 0, skipped: 0 });
      expect(await modelCount()).to.equal(0);
      expect(await outboxEntries()).to.have.length(0);
      expect(await audits()).to.have.length(0);
    });

    it('after a sync, meta:models in Redis carries the loaded prices', async () => {
      await load();
      await syncNow(redis);
      const sonnet = await metaModel('claude-sonnet-4-20250514');
      expect(sonnet).to.not.equal(undefined);
      expect(sonnet!.kind).to.equal('chat');
      expect(sonnet!.context_window).to.equal(200_000);
      expect(sonnet!.prices).to.deep.equal({ input_per_1m: 3, output_per_1m: 15, cache_read_per_1m: 0.3, cache_write_per_1m: 3.75, per_request: 0 });
      expect((await metaModel('gemini-2.5-flash'))!.prices).to.include({ input_per_1m: 0.3, output_per_1m: 2.5 });

      await load(nextVersion());
      await syncNow(redis);
      expect((await metaModel('claude-sonnet-4-20250514'))!.prices.input_per_1m).to.equal(4);
    });
  });

  describe('POST /admin/models/prices/load', () => {
    it('loads the shipped table and reports the counts', async () => {
      const reply = await api.call<PriceLoadResult>('POST', '/admin/models/prices/load');
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.body).to.include({ version: VERSION, created: TABLE_SIZE, updated: 0, skipped: 0, overwrite: false });
      const events = await audits();
      expect(events.map((e) => [e.action, e.actor_type])).to.deep.equal([['model.prices_load', 'admin']]);

      const list = await api.call<Page<ModelDto>>('GET', '/admin/models?q=gpt-4.1-mini');
      expect(list.body.data[0]).to.include({ name: 'gpt-4.1-mini', price_input: 0.4, price_cache_read: 0.1, price_source: `default:${VERSION}` });
    });

    it('keeps admin prices unless overwrite is true; dry_run writes nothing', async () => {
      const mine = await api.call<ModelDto>('POST', '/admin/models', { name: 'o3', price_input: 1, price_output: 1 });
      expect(mine.body.price_source).to.equal('admin');
      const dry = await api.call<PriceLoadResult>('POST', '/admin/models/prices/load', { overwrite: true, dry_run: true });
      expect(dry.body).to.include({ dry_run: true, created: TABLE_SIZE - 1, updated: 1 });
      expect(await modelCount()).to.equal(1);

      const kept = await api.call<PriceLoadResult>('POST', '/admin/models/prices/load', {});
      expect(kept.body).to.include({ created: TABLE_SIZE - 1, skipped: 1 });
      expect((await api.call<ModelDto>('GET', `/admin/models/${mine.body.id}`)).body).to.include({ price_input: 1, price_source: 'admin' });

      const replaced = await api.call<PriceLoadResult>('POST', '/admin/models/prices/load', { overwrite: true });
      expect(replaced.body).to.include({ created: 0, updated: 1, unchanged: TABLE_SIZE - 1 });
      expect((await api.call<ModelDto>('GET', `/admin/models/${mine.body.id}`)).body).to.include({ price_input: 2, price_output: 8, price_source: `default:${VERSION}` });
    });

    it('refuses a bad body naming the field', async () => {
      expectFieldError(await api.call('POST', '/admin/models/prices/load', { overwrite: 'yes' }), 'body.overwrite');
      expectFieldError(await api.call('POST', '/admin/models/prices/load', { file: '/etc/passwd' }), 'body');
      expect(await modelCount()).to.equal(0);
    });
  });

  describe('admin overrides', () => {
    it('a PATCH that sets a price makes the prices the admin’s; other fields leave the source alone', async () => {
      await load();
      const row = (await knex()('models').where('name', 'gemini-2.5-pro').first()) as { id: number };
      const vision = await api.call<ModelDto>('PATCH', `/admin/models/${row.id}`, { supports_vision: true });
      expect(vision.body).to.include({ supports_vision: true, price_source: `default:${VERSION}` });
      const priced = await api.call<ModelDto>('PATCH', `/admin/models/${row.id}`, { price_per_request: 0.001 });
      expect(priced.body).to.include({ price_per_request: 0.001, price_input: 1.25, price_source: 'admin' });
      expect((await load()).models.skipped).to.deep.equal(['gemini-2.5-pro']);
    });

    it('a model created by an admin is admin-priced', async () => {
      const created = await api.call<ModelDto>('POST', '/admin/models', { name: 'my-finetune', price_input: 4 });
      expect(created.status, created.text).to.equal(201);
      expect(created.body.price_source).to.equal('admin');
    });
  });

  describe('presets seed their models with default prices', () => {
    it('POST /admin/providers/preset creates the preset’s models in the same write', async () => {
      const reply = await api.call<{ group: { models: string[] } }>('POST', '/admin/providers/preset', { preset: 'anthropic', api_key: 'sk-ant-preset-0123456789' });
      expect(reply.status, reply.text).to.equal(201);
      const names = (await knex()('models').select('name').orderBy('name')).map((r: { name: string }) => r.name);
      expect(names).to.deep.equal([...PROVIDER_PRESETS.anthropic.models].sort());
      expect(await modelRow('claude-opus-4-6')).to.include({ price_input: 5, price_output: 25, price_cache_write: 6.25, price_source: `default:${VERSION}` });
      expect(await outboxEntries()).to.have.length(1);
      expect(await audits()).to.have.length(1);
      await syncNow(redis);
      expect((await metaModel('claude-haiku-4-5'))!.prices).to.include({ input_per_1m: 1, cache_read_per_1m: 0.1 });
    });

    it('never overwrites an admin price, and seeds only listed models the table knows', async () => {
      const mine = await api.call<ModelDto>('POST', '/admin/models', { name: 'gpt-4.1', price_input: 9 });
      expect(mine.status).to.equal(201);
      const reply = await api.call('POST', '/admin/providers/preset', { preset: 'openai', api_key: 'sk-preset-0123456789', models: ['gpt-4.1', 'gpt-4o-mini', 'my-private-model'] });
      expect(reply.status, reply.text).to.equal(201);
      expect(await modelRow('gpt-4.1')).to.include({ price_input: 9, price_source: 'admin' });
      expect(await modelRow('gpt-4o-mini')).to.include({ price_input: 0.15, price_source: `default:${VERSION}` });
      expect(await modelRow('my-private-model')).to.equal(undefined);
      expect(await modelCount()).to.equal(2);
    });
  });

  describe('rate_multiplier on upstream keys', () => {
    let groupId: number;
    beforeEach(async () => {
      groupId = (await createProviderGroup(api, { name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1' })).id;
    });
    interface Key {
      id: number;
      rate_multiplier: number;
    }

    it('defaults to 1, is accepted, returned, listed and patchable', async () => {
      const plain = await api.call<Key>('POST', '/admin/api-keys', { group_id: groupId, api_key: 'sk-plain-0123456789' });
      expect(plain.status, plain.text).to.equal(201);
      expect(plain.body.rate_multiplier).to.equal(1);
      const cheap = await api.call<Key>('POST', '/admin/api-keys', { group_id: groupId, api_key: 'sk-cheap-0123456789', rate_multiplier: 0.5 });
      expect(cheap.body.rate_multiplier).to.equal(0.5);
      expect((await api.call<Key>('GET', `/admin/api-keys/${cheap.body.id}`)).body.rate_multiplier).to.equal(0.5);
      const list = await api.call<Page<Key>>('GET', `/admin/api-keys?group_id=${groupId}`);
      expect(list.body.data.map((k) => [k.id, k.rate_multiplier])).to.deep.equal([
        [cheap.body.id, 0.5],
        [plain.body.id, 1],
      ]);
      const patched = await api.call<Key>('PATCH', `/admin/api-keys/${cheap.body.id}`, { rate_multiplier: 2.5 });
      expect(patched.status, patched.text).to.equal(200);
      expect(patched.body.rate_multiplier).to.equal(2.5);
      const free = await api.call<Key>('PATCH', `/admin/api-keys/${plain.body.id}`, { rate_multiplier: 0 });
      expect(free.body.rate_multiplier).to.equal(0);
    });

    it('refuses -1, "abc" and 1e9 with a 400 naming rate_multiplier', async () => {
      for (const bad of [-1, 'abc', 1e9, null]) {
        expectFieldError(await api.call('POST', '/admin/api-keys', { group_id: groupId, api_key: 'sk-bad-0123456789', rate_multiplier: bad }), 'body.rate_multiplier');
      }
      const key = await api.call<Key>('POST', '/admin/api-keys', { group_id: groupId, api_key: 'sk-ok-0123456789' });
      for (const bad of [-1, 'abc', 1e9]) {
        expectFieldError(await api.call('PATCH', `/admin/api-keys/${key.body.id}`, { rate_multiplier: bad }), 'body.rate_multiplier');
      }
      expectFieldError(await api.call('POST', '/admin/providers/preset', { preset: 'openai', name: 'p2', api_key: 'sk-bad-0123456789', rate_multiplier: -1 }), 'body.rate_multiplier');
      expectFieldError(
        await api.call('POST', '/admin/providers/custom', { name: 'c2', base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-bad-0123456789', models: ['m'], rate_multiplier: 'abc' }),
        'body.rate_multiplier',
      );
      expect(Number((await knex()('api_keys').count<Array<{ n: string }>>('* as n'))[0]!.n)).to.equal(1);
    });

    it('is set by the preset and custom shortcuts and reaches the provider snapshot in Redis', async () => {
      const key = await api.call<Key>('POST', '/admin/api-keys', { group_id: groupId, api_key: 'sk-half-0123456789', rate_multiplier: 0.5 });
      const preset = await api.call<{ api_key: Key }>('POST', '/admin/providers/preset', { preset: 'gemini', api_key: 'AIza-preset-0123456789', rate_multiplier: 0.25 });
      expect(preset.status, preset.text).to.equal(201);
      expect(preset.body.api_key.rate_multiplier).to.equal(0.25);
      const custom = await api.call<{ api_key: Key }>('POST', '/admin/providers/custom', {
        name: 'vllm',
        base_url: 'http://127.0.0.1:9/v1',
        api_key: 'sk-custom-0123456789',
        models: ['llama'],
        rate_multiplier: 3,
      });
      expect(custom.status, custom.text).to.equal(201);
      expect(custom.body.api_key.rate_multiplier).to.equal(3);

      await syncNow(redis);
      const snapshot = async (id: number) => (JSON.parse((await redis.hget(RedisKeys.providers, String(id)))!) as { rate_multiplier: number }).rate_multiplier;
      expect(await snapshot(key.body.id)).to.equal(0.5);
      expect(await snapshot(preset.body.api_key.id)).to.equal(0.25);
      expect(await snapshot(custom.body.api_key.id)).to.equal(3);

      await api.call('PATCH', `/admin/api-keys/${key.body.id}`, { rate_multiplier: 1.75 });
      await syncNow(redis);
      expect(await snapshot(key.body.id)).to.equal(1.75);
    });
  });
});
