import { expect } from 'chai';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { ProviderEventPayload } from '../../jobs/provider-events/definition.js';
import { processProviderEvent } from '../../jobs/provider-events/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { processStats } from '../../jobs/stats/processor.js';
import { flushSpent } from '../../src/domain/stats-flush.service.js';
import { UsageKeys } from '../../src/lib/budgets.js';
import { loadConfig } from '../../src/lib/config.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { createLogger } from '../../src/lib/logger.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { masterFixtures } from '../api/fixtures.js';
import { EZ_SECRET, expectError, useTestApi, type Page } from '../api/helpers.js';
import { testEnv } from '../support/hooks.js';
import { syncNow } from '../support/sync.js';

interface MasterJson {
  id: number;
  key: string;
  quota_limit: number;
  quota_used: number;
  budgets: Record<string, unknown>;
}
interface KeyJson {
  id: number;
  master_id: number;
  key: string;
  status: string;
  quota_limit: number;
  quota_used: number;
  budgets: Record<string, unknown>;
}

const digester = new KeyDigester(EZ_SECRET);
const tokenKey = (k: KeyJson) => RedisKeys.token(digester.digest(k.key));
const keySpent = (id: number) => UsageKeys.keySpent('', id);
const masterSpent = (id: number) => UsageKeys.masterSpent('', id);
const iso = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();
const job = (data: unknown) => ({ id: 'test', data, attemptsMade: 0, opts: {} }) as unknown as Job<unknown>;

/** Quotas and budgets in the admin/master api, the exhausted lifecycle, persisted spend, rebuild and reset (docs/budgets.md). */
describe('budgets control plane', function () {
  this.timeout(30_000);
  const api = useTestApi<KeyJson>('budgets-cp');
  const { call, req } = api;
  const { createMaster, issueKey } = masterFixtures<MasterJson, KeyJson>(api);
  const knex = () => testEnv().knex;
  let redis: Redis;
  let ctx: ProcessorContext;

  before(async () => {
    redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1 });
  });
  after(() => redis.disconnect());

  beforeEach(async () => {
    // PostgreSQL restarted its ids and sync versions (resetDatabase); Redis must forget them too.
    await redis.flushall();
    const prefix = `ez-test-${randomUUID().slice(0, 8)}`;
    const config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis: { url: testEnv().redisUrl, defaulted: false } };
    ctx = { config, knex: knex(), redis, secretBox: new SecretBox(EZ_SECRET), logger: createLogger({ level: 'silent' }), now: () => new Date() };
  });

  const event = (e: Omit<Extract<ProviderEventPayload, { type: 'quota_exhausted' }>, 'type'>) => processProviderEvent(job({ type: 'quota_exhausted', ...e }), ctx);
  const keyRow = async (id: number) =>
    (await knex()('keys').where({ id }).first('status', 'quota_limit', 'quota_used', 'updated_at')) as { status: string; quota_limit: number; quota_used: number; updated_at: Date };
  const masterRow = async (id: number) => (await knex()('masters').where({ id }).first('quota_limit', 'quota_used', 'updated_at')) as { quota_limit: number; quota_used: number; updated_at: Date };
  const auditActions = async (type: string, id: number) =>
    ((await knex()('audit_events').where({ object_type: type, object_id: String(id) }).orderBy('id').select('action', 'metadata')) as Array<{ action: string; metadata: Record<string, unknown> }>);
  const outboxCount = async () => Number(((await knex()('sync_outbox').count('* as n')) as Array<{ n: string }>)[0]!.n);
  const spend = async (subject: 'key' | 'master', id: number, micros: number) => {
    await redis.set(subject === 'key' ? keySpent(id) : masterSpent(id), String(micros));
    await redis.sadd(subject === 'key' ? UsageKeys.dirtyKeys('') : UsageKeys.dirtyMasters(''), String(id));
  };

  describe('api fields', () => {
    it('masters and child keys take quota_limit and budgets, return them, and sync them into their auth records', async () => {
      const plain = await createMaster({ name: 'plain' });
      expect(plain).to.include({ quota_limit: -1, quota_used: 0 });
      expect(plain.budgets).to.deep.equal({});

      const budgets = { day: { cost_usd: 2.5, requests: 1_000 }, minute: { tokens: 50_000 } };
      const master = await createMaster({ quota_limit: 5_000_000, budgets });
      expect(master).to.include({ quota_limit: 5_000_000, quota_used: 0 });
      expect(master.budgets).to.deep.equal(budgets);
      const key = await issueKey(master.id, { quota_limit: 1_000_000, budgets: { month: { cost_usd: 10 } } });
      expect(key).to.include({ quota_limit: 1_000_000, quota_used: 0 });
      expect(key.budgets).to.deep.equal({ month: { cost_usd: 10 } });

      const got = await call<MasterJson>('GET', `/admin/masters/${master.id}`);
      expect(got.body).to.include({ quota_limit: 5_000_000, quota_used: 0 });
      expect(got.body.budgets).to.deep.equal(budgets);
      const list = await call<Page<MasterJson>>('GET', '/admin/masters');
      expect(list.body.data.find((m) => m.id === master.id)?.budgets).to.deep.equal(budgets);

      const patched = await call<MasterJson>('PATCH', `/admin/masters/${master.id}`, { quota_limit: -1, budgets: { hour: { requests: 60 } } });
      expect(patched.status, patched.text).to.equal(200);
      expect(patched.body).to.include({ quota_limit: -1 });
      expect(patched.body.budgets).to.deep.equal({ hour: { requests: 60 } });
      const patchedKey = await call<KeyJson>('PATCH', `/admin/keys/${key.id}`, { budgets: { day: { tokens: 7 } } });
      expect(patchedKey.status, patchedKey.text).to.equal(200);
      expect(patchedKey.body.budgets).to.deep.equal({ day: { tokens: 7 } });
      expect((await call<KeyJson>('GET', `/admin/keys/${key.id}`)).body.budgets).to.deep.equal({ day: { tokens: 7 } });

      await syncNow(redis);
      expect(await redis.hgetall(RedisKeys.master(master.id))).to.include({ quota_limit: '-1', quota_used: '0', budgets: JSON.stringify({ hour: { requests: 60 } }) });
      expect(await redis.hgetall(tokenKey(key))).to.include({ quota_limit: '1000000', quota_used: '0', budgets: JSON.stringify({ day: { tokens: 7 } }) });
    });

    it('refuses bad quotas and budgets with a 400 naming the field', async () => {
      const master = await createMaster();
      const key = await issueKey(master.id);
      const bad: Array<[string, string, Record<string, unknown>, string]> = [
        ['POST', '/admin/masters', { name: 'x', budgets: { day: { cost_usd: -1 } } }, 'body.budgets.day.cost_usd'],
        ['POST', '/admin/masters', { name: 'x', quota_limit: -2 }, 'body.quota_limit'],
        ['POST', '/admin/masters', { name: 'x', budgets: { week: { requests: 1 } } }, 'body.budgets'],
        ['PATCH', `/admin/masters/${master.id}`, { quota_used: 0 }, 'body'],
        ['PATCH', `/admin/masters/${master.id}`, { budgets: { hour: { requests: 1.5 } } }, 'body.budgets.hour.requests'],
        ['POST', `/admin/masters/${master.id}/keys`, { name: 'k', budgets: { day: { tokens: 0 } } }, 'body.budgets.day.tokens'],
        ['POST', `/admin/masters/${master.id}/keys`, { name: 'k', budgets: { day: { cost: 1 } } }, 'body.budgets.day'],
        ['PATCH', `/admin/keys/${key.id}`, { budgets: 'lots' }, 'body.budgets'],
        ['PATCH', `/admin/keys/${key.id}`, { quota_used: 0 }, 'body'],
      ];
      for (const [method, path, body, field] of bad) expectError(await call(method, path, body), 400, 'validation_failed', field);
      expect((await masterRow(master.id)).quota_limit).to.equal(-1);
    });

    it('a master sets quota_limit and budgets on its own keys and cannot touch another master\'s keys', async () => {
      const mine = await createMaster({ name: 'mine' });
      const theirs = await createMaster({ name: 'theirs' });
      const created = await req<KeyJson>('POST', '/v1/tokens', { token: mine.key, body: { name: 't', quota_limit: 2_000, budgets: { month: { cost_usd: 3 } } } });
      expect(created.status, created.text).to.equal(201);
      expect(created.body).to.include({ quota_limit: 2_000, quota_used: 0 });
      expect(created.body.budgets).to.deep.equal({ month: { cost_usd: 3 } });
      expectError(await req('POST', '/v1/tokens', { token: mine.key, body: { name: 't', budgets: { month: { cost_usd: 'x' } } } }), 400, 'validation_failed', 'body.budgets.month.cost_usd');

      const patched = await req<KeyJson>('PATCH', `/v1/tokens/${created.body.id}`, { token: mine.key, body: { quota_limit: 4_000, budgets: {} } });
      expect(patched.status, patched.text).to.equal(200);
      expect(patched.body).to.include({ quota_limit: 4_000 });
      expect(patched.body.budgets).to.deep.equal({});
      // Scopes, limits and the like stay admin business.
      expectError(await req('PATCH', `/v1/tokens/${created.body.id}`, { token: mine.key, body: { rpm_limit: 5 } }), 400, 'validation_failed', 'body');

      const before = await keyRow(created.body.id);
      expectError(await req('PATCH', `/v1/tokens/${created.body.id}`, { token: theirs.key, body: { quota_limit: -1 } }), 404, 'not_found');
      expectError(await req('GET', `/v1/tokens/${created.body.id}`, { token: theirs.key }), 404, 'not_found');
      expect(await keyRow(created.body.id)).to.deep.equal(before);
    });
  });

  describe('exhausted', () => {
    it('quota_exhausted marks the key exhausted in PostgreSQL and its Redis record; a replay is a no-op; raising quota_limit reactivates', async () => {
      const master = await createMaster();
      const key = await issueKey(master.id, { quota_limit: 1_000_000 });
      await syncNow(redis);
      const at = iso(-100);
      const applied = await event({ subject: 'key', id: key.id, spent_micros: 1_000_050, at });
      expect(applied).to.deep.equal({ applied: true, outcome: 'key exhausted' });
      expect(await keyRow(key.id)).to.include({ status: 'exhausted', quota_used: 1_000_050 });
      const audits = await auditActions('key', key.id);
      expect(audits.map((a) => a.action)).to.deep.equal(['key.create', 'key.exhausted']);
      expect(audits[1]!.metadata).to.include({ quota_limit: 1_000_000, quota_used: 1_000_050, spent_micros: 1_000_050 });

      await syncNow(redis);
      expect(await redis.hgetall(tokenKey(key))).to.include({ status: 'exhausted', quota_used: '1000050' });
      expect(Number(await redis.get(keySpent(key.id)))).to.be.at.least(1_000_050);

      const rows = await outboxCount();
      const before = await keyRow(key.id);
      expect(await event({ subject: 'key', id: key.id, spent_micros: 1_000_050, at })).to.have.property('applied', false);
      expect(await event({ subject: 'key', id: key.id, spent_micros: 900_000, at: iso() })).to.have.property('applied', false);
      expect(await keyRow(key.id)).to.deep.equal(before);
      expect(await outboxCount()).to.equal(rows);
      expect(await auditActions('key', key.id)).to.have.length(2);

      // Active again only with room in the quota.
      expectError(await call('PATCH', `/admin/keys/${key.id}`, { status: 'active' }), 409, 'conflict', 'body.status');
      const raised = await call<KeyJson>('PATCH', `/admin/keys/${key.id}`, { quota_limit: 2_000_000 });
      expect(raised.status, raised.text).to.equal(200);
      expect(raised.body).to.include({ status: 'active', quota_limit: 2_000_000, quota_used: 1_000_050 });
      await syncNow(redis);
      expect(await redis.hgetall(tokenKey(key))).to.include({ status: 'active', quota_limit: '2000000' });

      // The same event again: the key has room now, so it only stays recorded.
      expect(await event({ subject: 'key', id: key.id, spent_micros: 1_000_050, at: iso() })).to.have.property('applied', false);
      expect((await keyRow(key.id)).status).to.equal('active');
    });

    it('an unlimited or disabled key only records its spend; an unknown key is skipped', async () => {
      const master = await createMaster();
      const unlimited = await issueKey(master.id);
      const disabled = await issueKey(master.id, { quota_limit: 10 });
      await call('PATCH', `/admin/keys/${disabled.id}`, { status: 'disabled' });
      expect(await event({ subject: 'key', id: unlimited.id, spent_micros: 500, at: iso() })).to.deep.equal({ applied: true, outcome: 'key quota_used recorded' });
      expect(await event({ subject: 'key', id: disabled.id, spent_micros: 500, at: iso() })).to.deep.equal({ applied: true, outcome: 'key quota_used recorded' });
      expect(await keyRow(unlimited.id)).to.include({ status: 'active', quota_used: 500 });
      expect(await keyRow(disabled.id)).to.include({ status: 'disabled', quota_used: 500 });
      expect(await event({ subject: 'key', id: 999_999, spent_micros: 500, at: iso() })).to.have.property('applied', false);
    });

    it('quota_exhausted for a master raises its quota_used only, audits the crossing once and never lowers it', async () => {
      const master = await createMaster({ quota_limit: 500 });
      const key = await issueKey(master.id);
      expect(await event({ subject: 'master', id: master.id, spent_micros: 700, at: iso() })).to.deep.equal({ applied: true, outcome: 'master quota_used recorded' });
      expect(await event({ subject: 'master', id: master.id, spent_micros: 800, at: iso() })).to.have.property('applied', true);
      expect(await event({ subject: 'master', id: master.id, spent_micros: 600, at: iso() })).to.have.property('applied', false);
      expect((await masterRow(master.id)).quota_used).to.equal(800);
      expect((await auditActions('master', master.id)).map((a) => a.action)).to.deep.equal(['master.create', 'master.quota_exhausted']);
      expect((await keyRow(key.id)).status).to.equal('active');
    });
  });

  describe('persisted spend', () => {
    it('the stats flush persists live spend into quota_used once, never lowers it and never changes a status', async () => {
      const master = await createMaster();
      const over = await issueKey(master.id, { quota_limit: 1_000 });
      const ahead = await issueKey(master.id);
      await knex()('keys').where({ id: ahead.id }).update({ quota_used: 100 });
      const stamp = new Date('2026-01-01T00:00:00Z');
      await knex()('keys').update({ updated_at: stamp });
      await spend('key', over.id, 1_234);
      await spend('key', ahead.id, 50);
      await spend('master', master.id, 1_284);

      const first = await processStats(job({ reason: 'tick' }), ctx);
      expect(first.spent).to.deep.equal({ keys: 2, masters: 1, raised: 2 });
      expect(await keyRow(over.id)).to.include({ quota_used: 1_234, status: 'active' });
      expect(await keyRow(ahead.id)).to.include({ quota_used: 100 });
      expect((await keyRow(over.id)).updated_at.toISOString()).to.equal(stamp.toISOString());
      expect((await masterRow(master.id)).quota_used).to.equal(1_284);
      expect(await redis.scard(UsageKeys.dirtyKeys(''))).to.equal(0);
      expect(await redis.exists(`${UsageKeys.dirtyKeys('')}:flushing`)).to.equal(0);

      const second = await processStats(job({ reason: 'tick' }), ctx);
      expect(second.spent).to.deep.equal({ keys: 0, masters: 0, raised: 0 });

      // A batch a crashed run left behind is read again (with the counter's current value).
      await redis.set(keySpent(over.id), '2000');
      await redis.hset(`${UsageKeys.dirtyKeys('')}:flushing`, { batch: 'crashed-run', [String(over.id)]: '1' });
      expect(await flushSpent({ knex: knex(), redis })).to.deep.equal({ keys: 1, masters: 0, raised: 1 });
      expect((await keyRow(over.id)).quota_used).to.equal(2_000);
      expect(await redis.exists(`${UsageKeys.dirtyKeys('')}:flushing`)).to.equal(0);
    });

    it('FLUSHALL then a snapshot rebuild restores every spend counter to at least what PostgreSQL knows', async () => {
      const master = await createMaster();
      const behind = await issueKey(master.id);
      const ahead = await issueKey(master.id);
      const fresh = await issueKey(master.id);
      await knex()('keys').where({ id: behind.id }).update({ quota_used: 4_000 });
      await knex()('keys').where({ id: ahead.id }).update({ quota_used: 300 });
      await knex()('masters').where({ id: master.id }).update({ quota_used: 9_000 });
      await syncNow(redis);

      await redis.flushall();
      // A gateway already counted past PostgreSQL for one key, and below it for another.
      await redis.set(keySpent(ahead.id), '777');
      await redis.set(keySpent(behind.id), '10');
      const snapshot = await call('POST', '/admin/sync/snapshot?wait_ms=0');
      expect(snapshot.status, snapshot.text).to.equal(202);
      await syncNow(redis);

      expect(await redis.get(keySpent(behind.id))).to.equal('4000');
      expect(await redis.get(keySpent(ahead.id))).to.equal('777');
      expect(await redis.get(masterSpent(master.id))).to.equal('9000');
      expect(await redis.get(keySpent(fresh.id))).to.equal(null);
      expect(await redis.hgetall(tokenKey(behind))).to.include({ quota_used: '4000' });
      expect(await redis.hgetall(RedisKeys.master(master.id))).to.include({ quota_used: '9000' });

      // An ordinary upsert applies the same floor.
      await knex()('keys').where({ id: fresh.id }).update({ quota_used: 55 });
      await call('PATCH', `/admin/keys/${fresh.id}`, { name: 'renamed' });
      await syncNow(redis);
      expect(await redis.get(keySpent(fresh.id))).to.equal('55');
    });
  });

  describe('quota reset', () => {
    it('POST /admin/keys/:id/quota/reset zeroes quota_used, re-activates an exhausted key and overwrites the Redis counter', async () => {
      const master = await createMaster();
      const key = await issueKey(master.id, { quota_limit: 1_000 });
      const at = iso(-50);
      await redis.set(keySpent(key.id), '1200');
      await event({ subject: 'key', id: key.id, spent_micros: 1_200, at });
      await syncNow(redis);
      expect(await redis.hgetall(tokenKey(key))).to.include({ status: 'exhausted' });

      const reset = await call<KeyJson>('POST', `/admin/keys/${key.id}/quota/reset`);
      expect(reset.status, reset.text).to.equal(200);
      expect(reset.body).to.include({ status: 'active', quota_used: 0, quota_limit: 1_000 });
      const audits = await auditActions('key', key.id);
      expect(audits.at(-1)).to.deep.include({ action: 'key.quota_reset' });
      expect(audits.at(-1)!.metadata).to.include({ previous_quota_used: 1_200, reactivated: true });

      // Before the reset reaches Redis, neither a flush nor a late event may bring the old spend back.
      await redis.sadd(UsageKeys.dirtyKeys(''), String(key.id));
      await flushSpent({ knex: knex(), redis });
      expect(await event({ subject: 'key', id: key.id, spent_micros: 1_200, at })).to.have.property('applied', false);
      expect(await keyRow(key.id)).to.include({ quota_used: 0, status: 'active' });

      await syncNow(redis);
      expect(await redis.get(keySpent(key.id))).to.equal('0');
      expect(await redis.hgetall(tokenKey(key))).to.include({ status: 'active', quota_used: '0' });
      // An event observed before the reset applied is stale afterwards too.
      expect(await event({ subject: 'key', id: key.id, spent_micros: 1_200, at })).to.have.property('applied', false);
      expect((await keyRow(key.id)).status).to.equal('active');

      // New spend after the reset is persisted as usual.
      await spend('key', key.id, 30);
      await flushSpent({ knex: knex(), redis });
      expect((await keyRow(key.id)).quota_used).to.equal(30);

      expectError(await call('POST', '/admin/keys/999999/quota/reset'), 404, 'not_found');
    });

    it('POST /admin/masters/:id/quota/reset zeroes quota_used and the counter, also when applied with a snapshot rebuild', async () => {
      const master = await createMaster({ quota_limit: 500 });
      await spend('master', master.id, 700);
      await flushSpent({ knex: knex(), redis });
      expect((await masterRow(master.id)).quota_used).to.equal(700);

      const reset = await call<MasterJson>('POST', `/admin/masters/${master.id}/quota/reset`);
      expect(reset.status, reset.text).to.equal(200);
      expect(reset.body).to.include({ quota_used: 0, quota_limit: 500 });
      expect((await auditActions('master', master.id)).at(-1)).to.deep.include({ action: 'master.quota_reset' });
      const [row] = (await knex()('sync_outbox').where({ resource: 'master', resource_id: String(master.id) }).orderBy('id', 'desc').limit(1)) as Array<{ payload: Record<string, unknown> }>;
      expect(row!.payload).to.include({ reset_spent: true });

      // The reset and a full rebuild are claimed in one batch: the rebuild must not keep the old counter.
      expect((await call('POST', '/admin/sync/snapshot?wait_ms=0')).status).to.equal(202);
      await syncNow(redis);
      expect(await redis.get(masterSpent(master.id))).to.equal('0');
      expect(await redis.hgetall(RedisKeys.master(master.id))).to.include({ quota_used: '0' });

      expectError(await call('POST', '/admin/masters/999999/quota/reset'), 404, 'not_found');
    });
  });
});
