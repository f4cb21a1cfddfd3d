import { expect } from 'chai';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { processLogs } from '../../jobs/logs/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import type { UsageSums } from '../../src/domain/usage-report.service.js';
import type { RequestLogRecord } from '../../src/gateway/types.js';
import { loadConfig } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { testEnv } from '../support/hooks.js';
import { ADMIN_TOKEN, expectError, expectFieldError, useTestApi } from './helpers.js';

/**
 * Usage reports against a direct computation: request logs go through the real logs processor
 * (request_logs + usage_hourly in one transaction), and every figure the api reports is
 * recomputed here with SQL over the raw request_logs rows of the range the answer names.
 */

type Sums = UsageSums;
interface Quota {
  unit: string;
  limit: number;
  used: number;
  remaining: number | null;
  unlimited: boolean;
}
interface Group extends Sums {
  key_id?: number | null;
  master_id?: number | null;
  model?: string | null;
  period?: string;
  name?: string | null;
  quota?: Quota | null;
}
interface Report {
  since: string;
  until: string;
  group_by: string | null;
  totals: Sums;
  groups?: Group[];
  quota: Quota | null;
  key_quota?: Quota | null;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Direct sums over request_logs in [since, until) and `where`, grouped by `groupExpr` (or not). */
async function rawSums(report: Pick<Report, 'since' | 'until'>, where: string, params: Array<string | number>, groupExpr?: string): Promise<Array<Sums & { g: unknown }>> {
  const { rows } = await testEnv().knex.raw<{ rows: Array<Sums & { g: unknown }> }>(
    `select ${groupExpr ?? 'null'} as g, count(*)::int as requests,
            coalesce(sum(prompt_tokens), 0)::int as prompt_tokens, coalesce(sum(completion_tokens), 0)::int as completion_tokens,
            coalesce(sum(prompt_tokens + completion_tokens), 0)::int as total_tokens,
            coalesce(sum(cache_read_tokens), 0)::int as cache_read_tokens, coalesce(sum(cache_write_tokens), 0)::int as cache_write_tokens,
            trim_scale(coalesce(sum(cost_list), 0))::text as cost_list_usd, trim_scale(coalesce(sum(cost_actual), 0))::text as cost_actual_usd
       from request_logs
      where created_at >= ? and created_at < ? and ${where}
      ${groupExpr ? 'group by 1 order by 1 nulls first' : ''}`,
    [report.since, report.until, ...params],
  );
  return rows;
}

const sumsOf = (g: Sums): Sums => ({
  requests: g.requests,
  prompt_tokens: g.prompt_tokens,
  completion_tokens: g.completion_tokens,
  total_tokens: g.total_tokens,
  cache_read_tokens: g.cache_read_tokens,
  cache_write_tokens: g.cache_write_tokens,
  cost_list_usd: g.cost_list_usd,
  cost_actual_usd: g.cost_actual_usd,
});

/** Asserts the report's totals equal the raw rows of its range under `where`, and that there were some. */
async function expectTotals(report: Report, where: string, params: Array<string | number>): Promise<void> {
  const [raw] = await rawSums(report, where, params);
  expect(raw!.requests, 'the filter matches raw rows').to.be.greaterThan(0);
  expect(report.totals).to.deep.equal(sumsOf(raw!));
}

/** Asserts every group equals the raw rows grouped by `groupExpr`; `label` reads the group's value off an api group. */
async function expectGroups(report: Report, where: string, params: Array<string | number>, groupExpr: string, label: (g: Group) => unknown): Promise<void> {
  const raw = await rawSums(report, where, params, groupExpr);
  expect(raw.length, 'several groups').to.be.greaterThan(1);
  expect(report.groups!.map(label)).to.deep.equal(raw.map((r) => (r.g instanceof Date ? r.g.toISOString() : r.g)));
  report.groups!.forEach((g, i) => expect(sumsOf(g), String(label(g))).to.deep.equal(sumsOf(raw[i]!)));
}

const masterKey = (name: string) => `ezm_${name}-${'0'.repeat(24)}`;

describe('usage reports: GET /v1/usage and the admin usage views', function () {
  this.timeout(30_000);
  const api = useTestApi<Report>('usage-api');
  const knex = () => testEnv().knex;
  const get = (path: string, token: string | null = ADMIN_TOKEN) => api.req<Report>('GET', path, { token });
  const now = Date.now();
  let alpha: number;
  let beta: number;
  /** alpha's keys k1, k2; beta's key k3. */
  let keys: number[];
  let processor: ProcessorContext;

  before(() => {
    processor = {
      config: loadConfig({ env: { EZ_ENV: 'test' }, cwd: tmpdir() }),
      knex: testEnv().knex,
      redis: new Redis(testEnv().redisUrl, { lazyConnect: true }),
      secretBox: new SecretBox('u'.repeat(40)),
      logger: createLogger({ level: 'silent' }),
      now: () => new Date(),
    };
  });
  after(() => processor.redis.disconnect());

  beforeEach(async () => {
    alpha = await seedMaster('alpha', { quota_limit: 5_000_000, quota_used: 1_250_000 });
    beta = await seedMaster('beta');
    keys = [
      (await seedKey(alpha, 'ezk_alpha-usage-client-key-one-0000', { name: 'one', quota_limit: 2_000_000, quota_used: 2_500_000 })).id,
      (await seedKey(alpha, 'ezk_alpha-usage-client-key-two-0000', { name: 'two' })).id,
      (await seedKey(beta, 'ezk_beta-usage-client-key-three-000', { name: 'three' })).id,
    ];
    const owners = [
      { master: alpha, key: keys[0]! },
      { master: alpha, key: keys[1]! },
      { master: beta, key: keys[2]! },
      { master: null, key: null }, // refused before auth: no master, no key
    ];
    const records: RequestLogRecord[] = [];
    // A deterministic spread over the last 70 days: several hours, days and (UTC) months.
    for (let i = 0; i < 300; i++) {
      const ageMs = i < 120 ? i * 23 * 60_000 + 7_000 : (i - 120) * 9 * HOUR + 41 * 60_000;
      const owner = owners[i % 7 === 6 ? 3 : i % 3]!;
      records.push({
        request_id: `usage-${i}-${randomUUID().slice(0, 8)}`,
        created_at: new Date(now - ageMs).toISOString(),
        master_id: owner.master,
        key_id: owner.key,
        namespace: 'default',
        model: ['m1', 'm2', 'm3'][i % 5 === 0 ? 2 : i % 2]!,
        upstream_model: 'up',
        provider_group_id: 5,
        api_key_id: 7 + (i % 2),
        format_in: 'openai',
        format_out: 'openai',
        stream: i % 4 === 0,
        status_code: [200, 200, 429, 500, 0][i % 5]!,
        error_code: null,
        error_message: null,
        latency_ms: 100 + i,
        ttft_ms: null,
        prompt_tokens: (i * 37) % 900,
        completion_tokens: (i * 11) % 300,
        cache_read_tokens: (i * 5) % 40,
        cache_write_tokens: i % 3 === 0 ? 12 : 0,
        // Many decimal places, so a float sum would drift where a numeric one does not.
        cost_list: ((i * 7_919) % 100_003) / 10_000_000,
        cost_actual: ((i * 104_729) % 99_991) / 1_000_000_000,
        usage_source: 'upstream',
        client_ip: null,
        attempts: 1,
        request_body: null,
        abort_reason: null,
      });
    }
    // Two batches through the logs processor, like the queue delivers them; buckets overlap.
    const job = (data: unknown) => ({ id: 'usage-test', data, attemptsMade: 0, opts: {} }) as unknown as Job<unknown>;
    await processLogs(job({ records: records.slice(0, 170) }), processor);
    await processLogs(job({ records: records.slice(170) }), processor);
  });

  describe('GET /v1/usage', () => {
    it("defaults to the last 30 days in whole hours and reports only the caller's own usage, with its quota", async () => {
      const res = await get('/v1/usage', masterKey('alpha'));
      expect(res.status, res.text).to.equal(200);
      const since = Date.parse(res.body.since);
      const until = Date.parse(res.body.until);
      expect(since % HOUR).to.equal(0);
      expect(until % HOUR).to.equal(0);
      expect(until).to.be.within(now, Date.now() + HOUR);
      expect(until - since).to.be.within(30 * DAY, 30 * DAY + HOUR);
      expect(res.body.group_by).to.equal(null);
      expect(res.body.groups).to.equal(undefined);
      await expectTotals(res.body, 'master_id = ?', [alpha]);
      expect(res.body.quota).to.deep.equal({ unit: 'micro_usd', limit: 5_000_000, used: 1_250_000, remaining: 3_750_000, unlimited: false });
      expect(res.body).not.to.have.property('key_quota');

      const other = await get('/v1/usage', masterKey('beta'));
      expect(other.status, other.text).to.equal(200);
      await expectTotals(other.body, 'master_id = ?', [beta]);
      expect(other.body.totals.requests).not.to.equal(res.body.totals.requests);
      expect(other.body.quota).to.deep.equal({ unit: 'micro_usd', limit: -1, used: 0, remaining: null, unlimited: true });
    });

    it('an explicit range is widened to whole UTC hours, and the totals equal the raw rows of that range', async () => {
      const since = new Date(now - 5 * DAY - 17 * 60_000 - 5_000).toISOString();
      const until = new Date(now - 20 * HOUR - 3 * 60_000).toISOString();
      const res = await get(`/v1/usage?since=${since}&until=${until}`, masterKey('alpha'));
      expect(res.status, res.text).to.equal(200);
      expect(res.body.since).to.equal(new Date(Math.floor(Date.parse(since) / HOUR) * HOUR).toISOString());
      expect(res.body.until).to.equal(new Date(Math.ceil(Date.parse(until) / HOUR) * HOUR).toISOString());
      await expectTotals(res.body, 'master_id = ?', [alpha]);
    });

    it('group_by=key names each own key with its lifetime quota; every group equals the raw rows', async () => {
      const res = await get('/v1/usage?group_by=key', masterKey('alpha'));
      expect(res.status, res.text).to.equal(200);
      await expectGroups(res.body, 'master_id = ?', [alpha], 'key_id', (g) => g.key_id);
      expect(res.body.groups!.map((g) => [g.key_id, g.name])).to.deep.equal([
        [keys[0], 'one'],
        [keys[1], 'two'],
      ]);
      // Overspent (used > limit): remaining never goes negative.
      expect(res.body.groups![0]!.quota).to.deep.equal({ unit: 'micro_usd', limit: 2_000_000, used: 2_500_000, remaining: 0, unlimited: false });
      expect(res.body.groups![1]!.quota).to.deep.equal({ unit: 'micro_usd', limit: -1, used: 0, remaining: null, unlimited: true });
      await expectTotals(res.body, 'master_id = ?', [alpha]);
    });

    it('group_by=model, day, month and hour: every group equals the raw rows', async () => {
      const cases: Array<[string, string, (g: Group) => unknown]> = [
        ['group_by=model', 'model', (g) => g.model],
        ['group_by=day', `date_trunc('day', created_at, 'UTC')`, (g) => g.period],
        [`group_by=month&since=${new Date(now - 70 * DAY).toISOString()}`, `date_trunc('month', created_at, 'UTC')`, (g) => g.period],
        [`group_by=hour&since=${new Date(now - 2 * DAY).toISOString()}`, `date_trunc('hour', created_at, 'UTC')`, (g) => g.period],
      ];
      for (const [query, expr, label] of cases) {
        const res = await get(`/v1/usage?${query}`, masterKey('alpha'));
        expect(res.status, `${query}: ${res.text}`).to.equal(200);
        await expectGroups(res.body, 'master_id = ?', [alpha], expr, label);
        await expectTotals(res.body, 'master_id = ?', [alpha]);
      }
    });

    it('key_id narrows to one own key (with its quota); another master\'s key or an unknown id is a 404', async () => {
      const res = await get(`/v1/usage?key_id=${keys[0]}&group_by=model`, masterKey('alpha'));
      expect(res.status, res.text).to.equal(200);
      await expectTotals(res.body, 'master_id = ? and key_id = ?', [alpha, keys[0]!]);
      await expectGroups(res.body, 'master_id = ? and key_id = ?', [alpha, keys[0]!], 'model', (g) => g.model);
      expect(res.body.key_quota).to.deep.equal({ unit: 'micro_usd', limit: 2_000_000, used: 2_500_000, remaining: 0, unlimited: false });
      expect(res.body.quota!.limit).to.equal(5_000_000);

      const foreign = expectError(await get(`/v1/usage?key_id=${keys[2]}`, masterKey('alpha')), 404, 'not_found');
      const unknown = expectError(await get('/v1/usage?key_id=987654', masterKey('alpha')), 404, 'not_found');
      // The two 404s read alike: nothing tells a master that another master's key exists.
      expect(foreign.message.replace(String(keys[2]), 'ID')).to.equal(unknown.message.replace('987654', 'ID'));
    });

    it("a deleted key's usage stays reportable; its quota is then null", async () => {
      await knex()('keys').where({ id: keys[1] }).delete();
      const res = await get(`/v1/usage?key_id=${keys[1]}`, masterKey('alpha'));
      expect(res.status, res.text).to.equal(200);
      await expectTotals(res.body, 'master_id = ? and key_id = ?', [alpha, keys[1]!]);
      expect(res.body.key_quota).to.equal(null);
      const grouped = await get('/v1/usage?group_by=key', masterKey('alpha'));
      expect(grouped.body.groups!.find((g) => g.key_id === keys[1])).to.include({ name: null, quota: null });
    });
  });

  describe('admin views', () => {
    it('GET /admin/usage: everything by default (unauthenticated traffic included), no quota', async () => {
      const res = await get('/admin/usage?group_by=master');
      expect(res.status, res.text).to.equal(200);
      await expectTotals(res.body, 'true', []);
      await expectGroups(res.body, 'true', [], 'master_id', (g) => g.master_id);
      expect(res.body.groups![0]).to.include({ master_id: null, name: null, quota: null });
      expect(res.body.groups!.map((g) => g.name)).to.deep.equal([null, 'alpha', 'beta']);
      expect(res.body.quota).to.equal(null);
    });

    it('GET /admin/usage filters by master, key and model, alone and together', async () => {
      const cases: Array<[string, string, Array<string | number>]> = [
        [`master_id=${beta}`, 'master_id = ?', [beta]],
        [`key_id=${keys[1]}`, 'key_id = ?', [keys[1]!]],
        ['model=m3', 'model = ?', ['m3']],
        [`master_id=${alpha}&model=m2`, 'master_id = ? and model = ?', [alpha, 'm2']],
        [`master_id=${alpha}&key_id=${keys[0]}&model=m1`, 'master_id = ? and key_id = ? and model = ?', [alpha, keys[0]!, 'm1']],
      ];
      for (const [query, where, params] of cases) {
        const res = await get(`/admin/usage?${query}&group_by=day`);
        expect(res.status, `${query}: ${res.text}`).to.equal(200);
        await expectTotals(res.body, where, params);
        await expectGroups(res.body, where, params, `date_trunc('day', created_at, 'UTC')`, (g) => g.period);
      }
      // A key filter reports the key's quota and its master's.
      const byKey = await get(`/admin/usage?key_id=${keys[0]}`);
      expect(byKey.body.key_quota!.limit).to.equal(2_000_000);
      expect(byKey.body.quota!.limit).to.equal(5_000_000);
      expectError(await get(`/admin/usage?master_id=${beta}&key_id=${keys[0]}`), 404, 'not_found');
      expectError(await get('/admin/usage?master_id=987654'), 404, 'not_found');
      // A model nobody used is no error: zero usage, exact zero cost.
      const none = await get('/admin/usage?model=never-used');
      expect(none.body.totals).to.deep.equal({
        requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost_list_usd: '0', cost_actual_usd: '0',
      });
    });

    it('GET /admin/masters/:id/usage answers what the master itself sees; GET /admin/keys/:id/usage one key', async () => {
      for (const query of ['', '?group_by=key', `?group_by=model&key_id=${keys[1]}`]) {
        const own = await get(`/v1/usage${query}`, masterKey('alpha'));
        const admin = await get(`/admin/masters/${alpha}/usage${query}`);
        expect(admin.status, admin.text).to.equal(200);
        expect(admin.body, query).to.deep.equal(own.body);
      }
      const res = await get(`/admin/keys/${keys[2]}/usage?group_by=month&since=${new Date(now - 70 * DAY).toISOString()}`);
      expect(res.status, res.text).to.equal(200);
      await expectTotals(res.body, 'key_id = ?', [keys[2]!]);
      await expectGroups(res.body, 'key_id = ?', [keys[2]!], `date_trunc('month', created_at, 'UTC')`, (g) => g.period);
      expect(res.body.key_quota).to.deep.equal({ unit: 'micro_usd', limit: -1, used: 0, remaining: null, unlimited: true });
      expect(res.body.quota).to.deep.equal({ unit: 'micro_usd', limit: -1, used: 0, remaining: null, unlimited: true });
      expectError(await get('/admin/masters/987654/usage'), 404, 'not_found');
      expectError(await get('/admin/keys/987654/usage'), 404, 'not_found');
    });
  });

  describe('input and credentials', () => {
    it('refuses a bad range, an unknown grouping, a range too large and non-numeric ids, naming the field', async () => {
      const at = (ms: number) => new Date(ms).toISOString();
      const alphaKey = masterKey('alpha');
      expectFieldError(await get(`/v1/usage?since=${at(now)}&until=${at(now - HOUR)}`, alphaKey), 'query.until');
      expectFieldError(await get(`/v1/usage?since=${at(now + DAY)}`, alphaKey), 'query.until');
      expectFieldError(await get('/v1/usage?group_by=week', alphaKey), 'query.group_by');
      expectFieldError(await get('/v1/usage?group_by=master', alphaKey), 'query.group_by');
      expectFieldError(await get(`/v1/usage?since=${at(now - 401 * DAY)}`, alphaKey), 'query.since');
      expectFieldError(await get(`/v1/usage?group_by=hour&since=${at(now - 32 * DAY)}`, alphaKey), 'query.since');
      expectFieldError(await get('/v1/usage?key_id=abc', alphaKey), 'query.key_id');
      expectFieldError(await get('/v1/usage?key_id=-3', alphaKey), 'query.key_id');
      expectFieldError(await get('/v1/usage?since=yesterday', alphaKey), 'query.since');
      // A master cannot widen its scope.
      expectFieldError(await get(`/v1/usage?master_id=${beta}`, alphaKey), 'query');
      expectFieldError(await get('/admin/usage?master_id=x'), 'query.master_id');
      expectFieldError(await get('/admin/keys/abc/usage'), 'params.id');
      expectFieldError(await get(`/admin/keys/${keys[0]}/usage?group_by=key`), 'query.group_by');
      const ok = await get(`/v1/usage?since=${at(now - 400 * DAY)}&until=${at(now)}`, alphaKey);
      expect(ok.status, ok.text).to.equal(200);
    });

    it('missing or wrong credentials are refused: 401, and 403 for a suspended master', async () => {
      expectError(await get('/v1/usage', null), 401, 'unauthorized');
      expectError(await get('/v1/usage', ADMIN_TOKEN), 401, 'unauthorized');
      expectError(await get('/v1/usage', 'ezk_alpha-usage-client-key-one-0000'), 401, 'unauthorized');
      expectError(await get('/admin/usage', null), 401, 'unauthorized');
      expectError(await get('/admin/usage', masterKey('alpha')), 401, 'unauthorized');
      expectError(await get(`/admin/masters/${alpha}/usage`, masterKey('alpha')), 401, 'unauthorized');
      await knex()('masters').where({ id: beta }).update({ status: 'suspended' });
      expectError(await get('/v1/usage', masterKey('beta')), 403, 'forbidden');
    });
  });
});
