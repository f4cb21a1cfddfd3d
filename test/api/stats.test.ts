import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { latencyBucket } from '../../src/domain/latency-histogram.js';
import { persistRequestLogs } from '../../src/domain/request-logs.service.js';
import type { RequestLogRecord } from '../../src/gateway/types.js';
import { LimitKeys } from '../../src/gateway/limits/limit-keys.js';
import { upstreamStatsPort } from '../../src/gateway/proxy/wiring.js';
import { UsageKeys } from '../../src/lib/budgets.js';
import { createLogger } from '../../src/lib/logger.js';
import { seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { testEnv } from '../support/hooks.js';
import { expectError, expectFieldError, useTestApi } from './helpers.js';

/**
 * Stats, dashboard and realtime figures against a direct computation: request logs go through the
 * real logs path (persistRequestLogs → usage_hourly/usage_minutely), and every figure the api
 * reports is recomputed here with SQL over the raw request_logs rows.
 */

interface Latency {
  avg: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
  samples: number;
}
interface Figures {
  requests: number;
  success: number;
  errors: number;
  client_errors: number;
  server_errors: number;
  error_rate: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_list: number;
  cost_actual: number;
  latency_ms: Latency;
  ttft_ms_avg: number | null;
}
interface StatsRow extends Figures {
  time?: string;
  model?: string | null;
  key_id?: number | null;
  master_id?: number | null;
  provider_group_id?: number | null;
}
interface StatsJson {
  resolution: string;
  since: string;
  until: string;
  data: StatsRow[];
  totals: Figures;
}
interface RealtimeJson {
  scope: string;
  master_id: number | null;
  second: number;
  qps: number;
  rpm: number;
  tpm: number;
  limited_last_minute: number;
  rate_limited: boolean;
  qps_limit?: number;
  series: Array<{ second: number; requests: number; tokens: number; limited: number }>;
}

const HOUR = 3_600_000;
const MINUTE = 60_000;
const floorTo = (ms: number, unit: number) => Math.floor(ms / unit) * unit;

/** Direct figures over raw rows; `where` is SQL over request_logs (bindings in `params`). */
interface RawGroup {
  g: string | number | null;
  requests: number;
  success: number;
  client_errors: number;
  server_errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_list: number;
  cost_actual: number;
  latency_sum: number;
  latency_max: number;
  p50: number | null;
  p95: number | null;
  ttft_avg: number | null;
}

async function rawFigures(groupExpr: string | null, where: string, params: Array<string | number | Date>): Promise<RawGroup[]> {
  const g = groupExpr ?? 'null';
  const { rows } = await testEnv().knex.raw<{ rows: RawGroup[] }>(
    `select ${g} as g, count(*)::int as requests,
            count(*) filter (where status_code between 200 and 299)::int as success,
            count(*) filter (where status_code between 400 and 499)::int as client_errors,
            count(*) filter (where status_code is null or status_code not between 200 and 499)::int as server_errors,
            sum(prompt_tokens)::int as prompt_tokens, sum(completion_tokens)::int as completion_tokens,
            sum(cost_list)::float8 as cost_list, sum(cost_actual)::float8 as cost_actual,
            coalesce(sum(latency_ms), 0)::int as latency_sum, coalesce(max(latency_ms), 0)::int as latency_max,
            percentile_disc(0.5) within group (order by latency_ms) as p50,
            percentile_disc(0.95) within group (order by latency_ms) as p95,
            avg(ttft_ms)::float8 as ttft_avg
       from request_logs where ${where} group by 1 order by 1 nulls first`,
    params,
  );
  return rows;
}

/** Asserts an api figure set equals the raw computation (percentiles to the histogram bucket). */
function expectFigures(api: Figures, raw: RawGroup, label: string): void {
  expect(api.requests, label).to.equal(raw.requests);
  expect(api.success, label).to.equal(raw.success);
  expect(api.client_errors, label).to.equal(raw.client_errors);
  expect(api.server_errors, label).to.equal(raw.server_errors);
  expect(api.errors, label).to.equal(raw.client_errors + raw.server_errors);
  expect(api.error_rate, label).to.be.closeTo((raw.client_errors + raw.server_errors) / raw.requests, 1e-12);
  expect(api.prompt_tokens, label).to.equal(raw.prompt_tokens);
  expect(api.completion_tokens, label).to.equal(raw.completion_tokens);
  expect(api.total_tokens, label).to.equal(raw.prompt_tokens + raw.completion_tokens);
  expect(api.cost_list, label).to.be.closeTo(raw.cost_list, 1e-9);
  expect(api.cost_actual, label).to.be.closeTo(raw.cost_actual, 1e-9);
  expect(api.latency_ms.avg, label).to.be.closeTo(raw.latency_sum / raw.requests, 1e-9);
  expect(api.latency_ms.max, label).to.equal(raw.latency_max);
  expect(api.latency_ms.samples, label).to.equal(raw.requests);
  for (const p of ['p50', 'p95'] as const) {
    const truth = raw[p]!;
    const estimate = api.latency_ms[p]!;
    // Histogram resolution: the estimate is the upper bound of the true value's bucket (capped by max).
    expect(latencyBucket(estimate), `${label} ${p}: ${estimate} vs ${truth}`).to.equal(latencyBucket(truth));
    expect(estimate, `${label} ${p}`).to.be.at.least(truth);
  }
  if (raw.ttft_avg === null) expect(api.ttft_ms_avg, label).to.equal(null);
  else expect(api.ttft_ms_avg, label).to.be.closeTo(raw.ttft_avg, 1e-9);
}

describe('stats, dashboard and realtime', function () {
  this.timeout(30_000);
  const api = useTestApi('stats-api');
  const knex = () => testEnv().knex;
  const now = Date.now();
  let masters: Array<{ id: number; key: string }>;
  let keyIds: number[];
  let groups: Array<{ groupId: number; apiKeyIds: number[] }>;
  let records: RequestLogRecord[];

  beforeEach(async () => {
    masters = [];
    keyIds = [];
    for (const name of ['alpha', 'beta']) {
      const id = await seedMaster(name);
      masters.push({ id, key: `ezm_${name}-${'0'.repeat(24)}` });
      keyIds.push((await seedKey(id, `ezk_${name}-stats-client-key-0000000`)).id);
    }
    groups = [
      await seedGroup({ name: 'g1', type: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['m1', 'm2'], keys: ['sk-a-000000000000', 'sk-b-000000000000'] }),
      await seedGroup({ name: 'g2', type: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['m1'], keys: ['sk-c-000000000000'] }),
    ];
    const apiKeys = groups.flatMap((g) => g.apiKeyIds.map((id) => ({ id, group: g.groupId })));
    // A deterministic spread over the last 5 hours (minutes) and the last 3 days (hours).
    const statuses = [200, 200, 200, 201, 400, 429, 500, 502, 0, 200];
    records = [];
    for (let i = 0; i < 240; i++) {
      const ageMs = i < 180 ? (i * 97 + 13) * 1_000 + (i % 7) * 60_000 : (i - 180) * HOUR + 17 * MINUTE;
      const m = i % 2;
      const upstream = apiKeys[i % apiKeys.length]!;
      const status = statuses[i % statuses.length]!;
      records.push({
        request_id: `stats-${i}-${randomUUID().slice(0, 8)}`,
        created_at: new Date(now - ageMs).toISOString(),
        master_id: masters[m]!.id,
        key_id: keyIds[m]!,
        namespace: 'default',
        model: i % 3 === 0 ? 'm2' : 'm1',
        upstream_model: 'up',
        provider_group_id: upstream.group,
        api_key_id: upstream.id,
        format_in: 'openai',
        format_out: 'openai',
        stream: i % 4 === 0,
        status_code: status,
        error_code: null,
        error_message: null,
        latency_ms: (i * 37) % 2_500 + (i % 11 === 0 ? 70_000 : 0),
        ttft_ms: i % 4 === 0 ? (i * 13) % 400 : null,
        prompt_tokens: (i * 7) % 300,
        completion_tokens: (i * 11) % 200,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_list: ((i * 3) % 17) / 1000,
        cost_actual: ((i * 5) % 13) / 1000,
        usage_source: 'upstream',
        client_ip: null,
        attempts: 1,
        request_body: null,
        abort_reason: null,
      });
    }
    // Two batches, like the logs queue would deliver them; the second overlaps buckets of the first.
    await persistRequestLogs(knex(), records.slice(0, 130));
    await persistRequestLogs(knex(), records.slice(130));
  });

  describe('GET /admin/logs/stats', () => {
    it('by hour, split by model: every group equals the computation over the raw rows', async () => {
      const since = new Date(now - 3 * 24 * HOUR).toISOString();
      const until = new Date(now).toISOString();
      const res = await api.req<StatsJson>('GET', `/admin/logs/stats?group_by=hour&split_by=model&since=${since}&until=${until}`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body.resolution).to.equal('hour');
      const from = new Date(floorTo(Date.parse(since), HOUR));
      const to = new Date(Math.ceil(Date.parse(until) / HOUR) * HOUR);
      expect(res.body.since).to.equal(from.toISOString());
      expect(res.body.until).to.equal(to.toISOString());
      const raw = await rawFigures(`to_char(date_trunc('hour', created_at, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.000"Z"') || '|' || model`, 'created_at >= ? and created_at < ?', [from, to]);
      expect(res.body.data.map((r) => `${r.time}|${r.model}`)).to.deep.equal(raw.map((r) => r.g));
      res.body.data.forEach((row, i) => expectFigures(row, raw[i]!, String(raw[i]!.g)));
      expectFigures(res.body.totals, (await rawFigures(null, 'created_at >= ? and created_at < ?', [from, to]))[0]!, 'totals');
    });

    for (const [groupBy, column] of [
      ['model', 'model'],
      ['key', 'key_id'],
      ['master', 'master_id'],
      ['provider', 'provider_group_id'],
    ] as const) {
      it(`by ${groupBy} over the default 24 h`, async () => {
        const res = await api.req<StatsJson>('GET', `/admin/logs/stats?group_by=${groupBy}`);
        expect(res.status, res.text).to.equal(200);
        const raw = await rawFigures(column, 'created_at >= ? and created_at < ?', [new Date(res.body.since), new Date(res.body.until)]);
        expect(raw.length).to.be.greaterThan(1);
        expect(res.body.data.map((r) => r[column === 'model' ? 'model' : column])).to.have.members(raw.map((r) => r.g));
        for (const row of res.body.data) {
          const value = row[column === 'model' ? 'model' : column];
          expectFigures(row, raw.find((r) => r.g === value)!, `${groupBy}=${String(value)}`);
        }
      });
    }

    it('by minute within 6 h, filtered by master: equals the raw rows minute by minute', async () => {
      const masterId = masters[0]!.id;
      const since = new Date(now - 5 * HOUR).toISOString();
      const res = await api.req<StatsJson>('GET', `/admin/logs/stats?group_by=minute&since=${since}&master_id=${masterId}`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body.resolution).to.equal('minute');
      const raw = await rawFigures(
        `to_char(date_trunc('minute', created_at, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.000"Z"')`,
        'created_at >= ? and created_at < ? and master_id = ?',
        [new Date(res.body.since), new Date(res.body.until), masterId],
      );
      expect(raw.length).to.be.greaterThan(20);
      expect(res.body.data.map((r) => r.time)).to.deep.equal(raw.map((r) => r.g));
      res.body.data.forEach((row, i) => expectFigures(row, raw[i]!, String(raw[i]!.g)));
    });

    it('refuses minute grouping over more than 6 hours, naming the field', async () => {
      const since = new Date(now - 6 * HOUR - MINUTE).toISOString();
      const until = new Date(now).toISOString();
      expectFieldError(await api.req('GET', `/admin/logs/stats?group_by=minute&since=${since}&until=${until}`), 'query.since');
      const ok = await api.req('GET', `/admin/logs/stats?group_by=minute&since=${new Date(now - 6 * HOUR).toISOString()}&until=${until}`);
      expect(ok.status, ok.text).to.equal(200);
      // Older than the minute aggregates' retention, even for a short range.
      const old = new Date(now - 8 * 24 * HOUR);
      expectFieldError(await api.req('GET', `/admin/logs/stats?group_by=minute&since=${old.toISOString()}&until=${new Date(old.getTime() + HOUR).toISOString()}`), 'query.since');
    });

    it('refuses a bad range, an unknown grouping and split_by without a time bucket', async () => {
      expectFieldError(await api.req('GET', `/admin/logs/stats?since=${new Date(now).toISOString()}&until=${new Date(now - HOUR).toISOString()}`), 'query.until');
      expectFieldError(await api.req('GET', '/admin/logs/stats?group_by=day'), 'query.group_by');
      expectFieldError(await api.req('GET', '/admin/logs/stats?group_by=model&split_by=key'), 'query.split_by');
      expectFieldError(await api.req('GET', '/admin/logs/stats?bogus=1'), 'query');
      expectError(await api.req('GET', '/admin/logs/stats', { token: null }), 401, 'unauthorized');
    });
  });

  describe('GET /admin/dashboard/summary', () => {
    it('equals the raw rows of the period, with entity counts and top models', async () => {
      for (const period of ['1h', '24h', '7d'] as const) {
        const res = await api.req<Figures & { since: string; until: string; counts: Record<string, number>; top_models: Array<{ model: string; requests: number; total_tokens: number; cost_actual: number }> }>(
          'GET',
          `/admin/dashboard/summary?period=${period}`,
        );
        expect(res.status, res.text).to.equal(200);
        const range = [new Date(res.body.since), new Date(res.body.until)];
        expect(range[1]!.getTime() - range[0]!.getTime()).to.equal({ '1h': 1, '24h': 24, '7d': 168 }[period] * HOUR);
        const [total] = await rawFigures(null, 'created_at >= ? and created_at < ?', range as Date[]);
        expectFigures(res.body, total!, period);
        const models = await rawFigures('model', 'created_at >= ? and created_at < ?', range as Date[]);
        const expected = [...models].sort((a, b) => b.requests - a.requests || String(a.g).localeCompare(String(b.g)));
        expect(res.body.top_models.map((m) => [m.model, m.requests, m.total_tokens])).to.deep.equal(
          expected.map((m) => [m.g, m.requests, m.prompt_tokens + m.completion_tokens]),
        );
      }
      const res = await api.req<{ counts: Record<string, number> }>('GET', '/admin/dashboard/summary');
      expect(res.body.counts).to.deep.equal({ masters: 2, active_masters: 2, keys: 2, active_keys: 2, provider_keys: 3, active_provider_keys: 3, provider_groups: 2 });
      expectFieldError(await api.req('GET', '/admin/dashboard/summary?period=2d'), 'query.period');
    });
  });

  describe('GET /admin/api-keys/stats/summary', () => {
    it('lifetime counters from api_keys and the since/until window from usage, per key and in total', async () => {
      const [a, b] = groups[0]!.apiKeyIds;
      await knex()('api_keys').where({ id: a }).update({ request_count: 10, success_count: 7, failure_count: 3, token_count: 1_000 });
      await knex()('api_keys').where({ id: b }).update({ request_count: 5, success_count: 5, failure_count: 0, token_count: 50 });
      await knex()('provider_groups').where({ id: groups[0]!.groupId }).update({ request_count: 15, success_count: 12, failure_count: 3, token_count: 1_050 });
      const since = new Date(now - 30 * HOUR);
      const until = new Date(now - 2 * HOUR);
      for (const query of [`?since=${since.toISOString()}&until=${until.toISOString()}`, '']) {
        const res = await api.req<{
          since: string | null;
          until: string | null;
          totals: { lifetime: Record<string, number>; window: Record<string, number> };
          data: Array<{ api_key_id: number; group_id: number; lifetime: Record<string, number>; window: Record<string, number> }>;
          groups: Array<{ group_id: number; lifetime: Record<string, number> }>;
        }>('GET', `/admin/api-keys/stats/summary${query}`);
        expect(res.status, res.text).to.equal(200);
        const where = query ? 'api_key_id = ? and created_at >= ? and created_at < ?' : 'api_key_id = ?';
        if (query) {
          expect(res.body.since).to.equal(new Date(floorTo(since.getTime(), HOUR)).toISOString());
          expect(res.body.until).to.equal(new Date(Math.ceil(until.getTime() / HOUR) * HOUR).toISOString());
        } else expect([res.body.since, res.body.until]).to.deep.equal([null, null]);
        expect(res.body.data.map((d) => d.api_key_id)).to.deep.equal(groups.flatMap((g) => g.apiKeyIds));
        let windowRequests = 0;
        for (const row of res.body.data) {
          const params: Array<number | Date> = query ? [row.api_key_id, new Date(res.body.since!), new Date(res.body.until!)] : [row.api_key_id];
          const [raw] = await rawFigures(null, where, params);
          expect(row.window.requests).to.equal(raw?.requests ?? 0);
          expect(row.window.success).to.equal(raw?.success ?? 0);
          expect(row.window.failure).to.equal((raw?.requests ?? 0) - (raw?.success ?? 0));
          expect(row.window.tokens).to.equal((raw?.prompt_tokens ?? 0) + (raw?.completion_tokens ?? 0));
          expect(row.window.cost_actual).to.be.closeTo(raw?.cost_actual ?? 0, 1e-9);
          windowRequests += row.window.requests ?? 0;
        }
        expect(res.body.totals.window.requests).to.equal(windowRequests);
        expect(res.body.data.find((d) => d.api_key_id === a)!.lifetime).to.deep.equal({ requests: 10, success: 7, failure: 3, tokens: 1_000 });
        expect(res.body.totals.lifetime).to.deep.equal({ requests: 15, success: 12, failure: 3, tokens: 1_050 });
        expect(res.body.groups.find((g) => g.group_id === groups[0]!.groupId)!.lifetime).to.deep.equal({ requests: 15, success: 12, failure: 3, tokens: 1_050 });
      }
      // Registered before /admin/api-keys/:id, and validated.
      expectFieldError(await api.req('GET', `/admin/api-keys/stats/summary?since=${until.toISOString()}&until=${since.toISOString()}`), 'query.until');
      const filtered = await api.req<{ data: Array<{ group_id: number }> }>('GET', `/admin/api-keys/stats/summary?group_id=${groups[1]!.groupId}`);
      expect(filtered.body.data.map((d) => d.group_id)).to.deep.equal([groups[1]!.groupId]);
    });
  });

  describe('realtime', () => {
    let redis: Redis;
    /** Seeded per-second values: requests, tokens, limited for a scope. */
    const seeded = (second: number, salt: number) => ({ requests: (second % 7) + salt, tokens: ((second * 31) % 500) + salt, limited: salt === 3 ? (second % 2) : 0 });

    beforeEach(async () => {
      redis = api.deps.redis;
      const stale = [...(await redis.keys('stats:rps:*')), ...(await redis.keys('stats:tps:*')), ...(await redis.keys('stats:limited:*'))];
      if (stale.length) await redis.del(...stale);
      const current = Math.floor(Date.now() / 1_000);
      const pipeline = redis.pipeline();
      for (let s = current - 75; s <= current + 10; s++) {
        const global = seeded(s, 0);
        const a = seeded(s, 3);
        const b = seeded(s, 5);
        pipeline.set(LimitKeys.statsRequests('', s), global.requests, 'EX', 120);
        pipeline.set(LimitKeys.statsTokens('', s), global.tokens, 'EX', 120);
        pipeline.set(LimitKeys.statsMasterRequests('', masters[0]!.id, s), a.requests, 'EX', 120);
        pipeline.set(LimitKeys.statsMasterTokens('', masters[0]!.id, s), a.tokens, 'EX', 120);
        pipeline.set(LimitKeys.statsMasterLimited('', masters[0]!.id, s), a.limited, 'EX', 120);
        pipeline.set(LimitKeys.statsMasterRequests('', masters[1]!.id, s), b.requests, 'EX', 120);
        pipeline.set(LimitKeys.statsMasterTokens('', masters[1]!.id, s), b.tokens, 'EX', 120);
      }
      await pipeline.exec();
    });

    /** The figures a view must report at `second`, from the seeded values. */
    function expected(second: number, salt: number) {
      const complete = Array.from({ length: 60 }, (_, i) => second - 60 + i);
      const sum = (list: number[], f: 'requests' | 'tokens' | 'limited') => list.reduce((n, s) => n + seeded(s, salt)[f], 0);
      return {
        qps: sum(complete.slice(-10), 'requests') / 10,
        rpm: sum(complete, 'requests'),
        tpm: sum(complete, 'tokens'),
        limited_last_minute: sum(complete, 'limited'),
        rate_limited: sum(Array.from({ length: 10 }, (_, i) => second - 9 + i), 'limited') > 0,
      };
    }
    const pick = (r: RealtimeJson) => ({ qps: r.qps, rpm: r.rpm, tpm: r.tpm, limited_last_minute: r.limited_last_minute, rate_limited: r.rate_limited });

    it('GET /admin/realtime reads the global counters', async () => {
      const res = await api.req<RealtimeJson>('GET', '/admin/realtime');
      expect(res.status, res.text).to.equal(200);
      expect(res.body.scope).to.equal('global');
      expect(pick(res.body)).to.deep.equal(expected(res.body.second, 0));
      expect(res.body.series).to.have.length(60);
      expect(res.body.series[59]).to.deep.equal({ second: res.body.second - 1, ...seeded(res.body.second - 1, 0) });
    });

    it("GET /admin/masters/:id/realtime reads one master's counters and reports its rate limiting", async () => {
      const a = await api.req<RealtimeJson>('GET', `/admin/masters/${masters[0]!.id}/realtime`);
      expect(a.status, a.text).to.equal(200);
      expect(pick(a.body)).to.deep.equal(expected(a.body.second, 3));
      expect(a.body.rate_limited).to.equal(true);
      expect(a.body).to.include({ scope: 'master', master_id: masters[0]!.id, qps_limit: 0 });
      const b = await api.req<RealtimeJson>('GET', `/admin/masters/${masters[1]!.id}/realtime`);
      expect(pick(b.body)).to.deep.equal(expected(b.body.second, 5));
      expect(b.body.rate_limited).to.equal(false);
      expectError(await api.req('GET', '/admin/masters/999999/realtime'), 404, 'not_found');
    });

    it("GET /v1/realtime shows the calling master's counters only", async () => {
      for (const [index, salt] of [[0, 3], [1, 5]] as const) {
        const res = await api.req<RealtimeJson>('GET', '/v1/realtime', { token: masters[index]!.key });
        expect(res.status, res.text).to.equal(200);
        expect(res.body.master_id).to.equal(masters[index]!.id);
        expect(pick(res.body)).to.deep.equal(expected(res.body.second, salt));
      }
      expectError(await api.req('GET', '/v1/realtime'), 401, 'unauthorized'); // the admin token is not a master key
    });
  });

  describe('POST /internal/stats/flush', () => {
    it('needs the internal token and flushes the upstream key counters now', async () => {
      const stale = await api.deps.redis.keys('stats:apikey:*');
      if (stale.length) await api.deps.redis.del(...stale);
      const [a] = groups[0]!.apiKeyIds;
      upstreamStatsPort(api.deps.redis, createLogger({ level: 'silent' })).record([{ apiKeyId: a!, requests: 3, success: 2, failure: 1, faults: 1, tokens: 42 }], now);
      await api.deps.redis.ping();
      expectError(await api.call('POST', '/internal/stats/flush', undefined, {}), 401, 'unauthorized');
      expectError(await api.req('POST', '/internal/stats/flush'), 401, 'unauthorized'); // the admin token is not the internal token
      const res = await api.call<{ applied: string[]; api_keys: number; requests: number; tokens: number }>('POST', '/internal/stats/flush', undefined, {
        'X-Internal-Token': api.deps.secrets.internalToken,
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ api_keys: 1, requests: 3, tokens: 42 });
      expect(await knex()('api_keys').where({ id: a }).first('request_count', 'success_count', 'failure_count', 'token_count')).to.deep.equal({
        request_count: 3,
        success_count: 2,
        failure_count: 1,
        token_count: 42,
      });
    });

    it('also persists the live spend of child keys and masters into quota_used', async () => {
      const [keyId, masterId] = [keyIds[0]!, masters[0]!.id];
      await api.deps.redis.set(UsageKeys.keySpent('', keyId), '1234');
      await api.deps.redis.sadd(UsageKeys.dirtyKeys(''), String(keyId));
      await api.deps.redis.set(UsageKeys.masterSpent('', masterId), '5678');
      await api.deps.redis.sadd(UsageKeys.dirtyMasters(''), String(masterId));
      const res = await api.call<{ spent: { keys: number; masters: number; raised: number } }>('POST', '/internal/stats/flush', undefined, {
        'X-Internal-Token': api.deps.secrets.internalToken,
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.spent).to.include({ raised: 2 });
      expect(Number((await knex()('keys').where({ id: keyId }).first('quota_used'))!.quota_used)).to.equal(1234);
      expect(Number((await knex()('masters').where({ id: masterId }).first('quota_used'))!.quota_used)).to.equal(5678);
    });
  });
});
