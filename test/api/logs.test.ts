import { expect } from 'chai';
import type { Knex } from 'knex';
import { testEnv } from '../support/hooks.js';
import { masterFixtures } from './fixtures.js';
import { ADMIN_TOKEN, expectError, expectFieldError, useTestApi, type Reply } from './helpers.js';

interface LogJson {
  request_id: string;
  created_at: string;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  status_code: number | null;
  cost_actual: number;
  request_body?: string | null;
  [column: string]: unknown;
}
interface LogPageJson {
  data: LogJson[];
  next_cursor: string | null;
}
interface MasterJson {
  id: number;
  key: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One request_logs row with every column set; `ago` is how long before the test's start. */
function logRow(requestId: string, ago: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    request_id: requestId,
    created_at: new Date(START - ago),
    master_id: 1,
    key_id: 11,
    namespace: 'default',
    model: 'gpt-4o',
    upstream_model: 'gpt-4o-2024-08-06',
    provider_group_id: 21,
    api_key_id: 31,
    format_in: 'openai',
    format_out: 'openai',
    stream: false,
    status_code: 200,
    error_code: null,
    error_message: null,
    latency_ms: 120,
    ttft_ms: null,
    prompt_tokens: 10,
    completion_tokens: 5,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    cost_list: 0.0015,
    cost_actual: 0.001,
    usage_source: 'upstream',
    client_ip: '203.0.113.7',
    attempts: 1,
    request_body: '{"messages":[{"role":"user","content":"secret prompt"}]}',
    abort_reason: null,
    ...fields,
  };
}

let START = Date.now();

describe('request logs: GET /admin/logs and GET /v1/logs', function () {
  const api = useTestApi<LogPageJson>('logs-api');
  const { call } = api;
  const knex = () => testEnv().knex;
  const seed = (rows: Array<Record<string, unknown>>) => knex()('request_logs').insert(rows);
  const get = (path: string, token: string | null = ADMIN_TOKEN) => api.req<LogPageJson>('GET', path, { token });
  const ids = (res: Reply<LogPageJson>) => res.body.data.map((r) => r.request_id);

  beforeEach(function () {
    START = Date.now();
  });

  describe('GET /admin/logs', function () {
    beforeEach(async function () {
      await seed([
        logRow('r-1h', 1 * HOUR),
        logRow('r-2h', 2 * HOUR, { master_id: 2, key_id: 12, model: 'claude-sonnet', provider_group_id: 22, api_key_id: 32, status_code: 429, error_code: 'rate_limited' }),
        logRow('r-3h', 3 * HOUR, { status_code: 502, error_code: 'upstream_error', api_key_id: 33 }),
        logRow('r-4h', 4 * HOUR, { status_code: 0, abort_reason: 'client_disconnected' }),
        logRow('r-5h', 5 * HOUR, { status_code: 201, key_id: 13 }),
        logRow('r-30h', 30 * HOUR),
        logRow('r-3d', 3 * DAY, { master_id: 2 }),
        logRow('r-10d', 10 * DAY),
      ]);
    });

    it('defaults to the last 24 h, newest first, every column but request_body', async function () {
      const res = await get('/admin/logs');
      expect(res.status, res.text).to.equal(200);
      expect(ids(res)).to.deep.equal(['r-1h', 'r-2h', 'r-3h', 'r-4h', 'r-5h']);
      expect(res.body.next_cursor).to.equal(null);
      const first = res.body.data[0]!;
      expect(first).to.not.have.property('request_body');
      expect(res.text).to.not.contain('secret prompt');
      expect(first).to.deep.equal({
        request_id: 'r-1h',
        created_at: new Date(START - HOUR).toISOString(),
        master_id: 1,
        key_id: 11,
        namespace: 'default',
        model: 'gpt-4o',
        upstream_model: 'gpt-4o-2024-08-06',
        provider_group_id: 21,
        api_key_id: 31,
        format_in: 'openai',
        format_out: 'openai',
        stream: false,
        status_code: 200,
        error_code: null,
        error_message: null,
        latency_ms: 120,
        ttft_ms: null,
        prompt_tokens: 10,
        completion_tokens: 5,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_list: 0.0015,
        cost_actual: 0.001,
        usage_source: 'upstream',
        client_ip: '203.0.113.7',
        attempts: 1,
        abort_reason: null,
      });
    });

    it('include_body=true adds request_body', async function () {
      const res = await get('/admin/logs?include_body=true&limit=1');
      expect(res.status, res.text).to.equal(200);
      expect(res.body.data[0]!.request_body).to.equal('{"messages":[{"role":"user","content":"secret prompt"}]}');
      expectFieldError(await get('/admin/logs?include_body=yes'), 'query.include_body');
    });

    it('filters by time range, master, key, model, provider group, api key, status and request id', async function () {
      const iso = (ago: number) => encodeURIComponent(new Date(START - ago).toISOString());
      const cases: Array<[string, string[]]> = [
        [`since=${iso(4 * DAY)}`, ['r-1h', 'r-2h', 'r-3h', 'r-4h', 'r-5h', 'r-30h', 'r-3d']],
        [`since=${iso(4 * DAY)}&until=${iso(2 * HOUR)}`, ['r-3h', 'r-4h', 'r-5h', 'r-30h', 'r-3d']],
        [`until=${iso(20 * HOUR)}`, ['r-30h']], // since defaults to 24 h before until
        [`since=${iso(11 * DAY)}&until=${iso(9 * DAY)}`, ['r-10d']],
        [`since=${iso(4 * DAY)}&master_id=2`, ['r-2h', 'r-3d']],
        ['key_id=13', ['r-5h']],
        ['model=claude-sonnet', ['r-2h']],
        ['provider_group_id=22', ['r-2h']],
        ['api_key_id=33', ['r-3h']],
        ['status=200', ['r-1h']],
        ['status=2xx', ['r-1h', 'r-5h']],
        ['status=4xx', ['r-2h']],
        ['status=5xx', ['r-3h']],
        ['status=error', ['r-4h']],
        ['status=0', ['r-4h']],
        ['status=3xx', []],
        ['request_id=r-3h', ['r-3h']],
        ['request_id=r-30h', []], // outside the default range
        [`request_id=r-30h&since=${iso(2 * DAY)}`, ['r-30h']],
        ['master_id=1&status=2xx&model=gpt-4o&key_id=11', ['r-1h']],
        ['master_id=999', []],
      ];
      for (const [query, expected] of cases) {
        const res = await get(`/admin/logs?${query}`);
        expect(res.status, `${query}: ${res.text}`).to.equal(200);
        expect(ids(res), query).to.deep.equal(expected);
      }
    });

    it('refuses bad filters with a 400 naming the field', async function () {
      const iso = (ago: number) => encodeURIComponent(new Date(START - ago).toISOString());
      const cases: Array<[string, string]> = [
        [`since=${iso(HOUR)}&until=${iso(2 * HOUR)}`, 'query.until'], // until before since
        [`since=${iso(HOUR)}&until=${iso(HOUR)}`, 'query.until'], // empty range
        [`since=${iso(40 * DAY)}&until=${iso(0)}`, 'query.since'], // longer than 31 days
        [`since=${iso(32 * DAY)}`, 'query.since'], // until defaults to now: 32 days
        [`since=${encodeURIComponent(new Date(START + HOUR).toISOString())}`, 'query.since'], // in the future
        ['since=yesterday', 'query.since'],
        ['until=2026-01-01T00:00:00', 'query.until'], // no zone
        ['status=2XX', 'query.status'],
        ['status=1xx', 'query.status'],
        ['status=1000', 'query.status'],
        ['limit=0', 'query.limit'],
        ['limit=201', 'query.limit'],
        ['key_id=abc', 'query.key_id'],
        ['master_id=-1', 'query.master_id'],
        ['provider_group_id=0', 'query.provider_group_id'],
        ['model=', 'query.model'],
        ['colour=blue', 'query'],
      ];
      for (const [query, field] of cases) {
        const res = await get(`/admin/logs?${query}`);
        if (field === 'query') expectError(res, 400, 'validation_failed');
        else expectFieldError(res, field);
      }
    });

    it('needs admin credentials', async function () {
      expectError(await get('/admin/logs', null), 401, 'unauthorized');
      expectError(await get('/admin/logs', 'wrong-token'), 401, 'unauthorized');
    });
  });

  describe('pagination', function () {
    /** 120 rows over 3 days, with runs of equal created_at (ties broken by request_id) and microsecond times. */
    async function seed120(): Promise<string[]> {
      const rows: Array<Record<string, unknown>> = [];
      for (let i = 0; i < 120; i++) {
        // Groups of 3 rows share one instant; groups are 30 min apart, reaching back 20 h.
        rows.push(logRow(`p-${String(i).padStart(3, '0')}`, Math.floor(i / 3) * 30 * 60_000 + 1_000, { master_id: 1 + (i % 2) }));
      }
      await seed(rows);
      // Two rows a microsecond apart: a millisecond cursor would lose or repeat one of them.
      const base = new Date(START - 90_000).toISOString().replace('Z', '');
      await knex().raw(
        `insert into request_logs (request_id, created_at, master_id, stream, status_code, latency_ms, attempts)
         values ('u-a', ?::timestamptz, 1, false, 200, 1, 1), ('u-b', ?::timestamptz, 1, false, 200, 1, 1)`,
        [`${base}001Z`, `${base}002Z`],
      );
      const { rows: ordered } = await knex().raw<{ rows: Array<{ request_id: string }> }>(
        'select request_id from request_logs order by created_at desc, request_id desc',
      );
      return ordered.map((r) => r.request_id);
    }

    it('walks 122 rows page by page: every row exactly once, newest first', async function () {
      const expected = await seed120();
      expect(expected).to.have.length(122);
      expect(expected.indexOf('u-b')).to.be.below(expected.indexOf('u-a'));
      for (const limit of [7, 50, 200]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res: Reply<LogPageJson> = await get(`/admin/logs?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
          expect(res.status, res.text).to.equal(200);
          expect(res.body.data.length).to.be.at.most(limit);
          seen.push(...ids(res));
          cursor = res.body.next_cursor;
          if (cursor) expect(cursor).to.match(/^[A-Za-z0-9_-]+$/);
          pages += 1;
        } while (cursor && pages < 100);
        expect(seen, `limit ${limit}`).to.deep.equal(expected);
        expect(pages).to.equal(Math.ceil(122 / limit));
      }
    });

    it('keeps the filters across pages', async function () {
      const expected = (await seed120()).filter((id) => id.startsWith('p-') && Number(id.slice(2)) % 2 === 1);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Reply<LogPageJson> = await get(`/admin/logs?master_id=2&limit=13${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status, res.text).to.equal(200);
        seen.push(...ids(res));
        cursor = res.body.next_cursor;
      } while (cursor);
      expect(seen).to.deep.equal(expected);
    });

    it('refuses a tampered, truncated or foreign cursor with 400 naming query.cursor', async function () {
      await seed120();
      const first = await get('/admin/logs?limit=5');
      const cursor = first.body.next_cursor!;
      expect(cursor).to.be.a('string');
      const raw = Buffer.from(cursor, 'base64url');
      // Same MAC, a different position: re-encoded JSON pointing elsewhere.
      const payload = JSON.parse(raw.subarray(16).toString('utf8')) as { t: string; r: string };
      const moved = Buffer.concat([raw.subarray(0, 16), Buffer.from(JSON.stringify({ ...payload, r: 'p-000' }))]).toString('base64url');
      const flipped = Buffer.from(raw);
      flipped[flipped.length - 3] = flipped[flipped.length - 3]! ^ 1;
      const forged = Buffer.from(JSON.stringify({ t: payload.t, r: payload.r })).toString('base64url');
      for (const bad of [moved, flipped.toString('base64url'), cursor.slice(0, -4), forged, 'AAAA', 'not-a-cursor', '%21%21%21', 'x'.repeat(3000)]) {
        expectFieldError(await get(`/admin/logs?cursor=${bad}`), 'query.cursor');
      }
      // The genuine cursor still works.
      expect((await get(`/admin/logs?limit=5&cursor=${cursor}`)).status).to.equal(200);
    });
  });

  describe('GET /v1/logs (a master sees only its own)', function () {
    const { createMaster, issueKey } = masterFixtures<MasterJson>(api);
    let alice: MasterJson;
    let bob: MasterJson;

    beforeEach(async function () {
      alice = await createMaster({ name: 'alice' });
      bob = await createMaster({ name: 'bob' });
      const aliceKey = await issueKey(alice.id);
      const bobKey = await issueKey(bob.id);
      const rows: Array<Record<string, unknown>> = [];
      for (let i = 0; i < 6; i++) {
        rows.push(logRow(`alice-${i}`, (i + 1) * HOUR, { master_id: alice.id, key_id: aliceKey.id }));
        rows.push(logRow(`bob-${i}`, (i + 1) * HOUR + 60_000, { master_id: bob.id, key_id: bobKey.id, status_code: 500 }));
      }
      rows.push(logRow('shared-id', 7 * HOUR, { master_id: bob.id, key_id: bobKey.id }));
      rows.push(logRow('orphan', 7 * HOUR, { master_id: null, key_id: null }));
      await seed(rows);
    });

    it('lists only the caller’s rows, whatever the filters', async function () {
      const a = await get('/v1/logs', alice.key);
      expect(a.status, a.text).to.equal(200);
      expect(ids(a)).to.deep.equal(['alice-0', 'alice-1', 'alice-2', 'alice-3', 'alice-4', 'alice-5']);
      expect(a.body.data.every((r) => r.master_id === alice.id)).to.equal(true);
      expect(a.body.data[0]).to.not.have.property('request_body');
      expect(a.text).to.not.contain('bob').and.not.contain('secret prompt');
      const b = await get('/v1/logs?limit=4', bob.key);
      expect(ids(b)).to.deep.equal(['bob-0', 'bob-1', 'bob-2', 'bob-3']);
      const b2 = await get(`/v1/logs?limit=4&cursor=${b.body.next_cursor!}`, bob.key);
      expect(ids(b2)).to.deep.equal(['bob-4', 'bob-5', 'shared-id']);
      expect(b2.body.next_cursor).to.equal(null);
      // Another master's request id, key id or status finds nothing.
      for (const query of ['request_id=bob-0', 'request_id=shared-id', `key_id=${b.body.data[0]!.key_id!}`, 'status=5xx', 'request_id=orphan']) {
        const res = await get(`/v1/logs?${query}`, alice.key);
        expect(res.status, res.text).to.equal(200);
        expect(res.body.data, query).to.deep.equal([]);
      }
      expect(ids(await get('/v1/logs?request_id=shared-id', bob.key))).to.deep.equal(['shared-id']);
    });

    it('a cursor from another master’s walk still shows only the caller’s rows', async function () {
      const b = await get('/v1/logs?limit=2', bob.key);
      const a = await get(`/v1/logs?cursor=${b.body.next_cursor!}`, alice.key);
      expect(a.status, a.text).to.equal(200);
      expect(a.body.data.every((r) => r.master_id === alice.id)).to.equal(true);
    });

    it('refuses master_id and include_body, and needs a master key', async function () {
      expectFieldError(await get(`/v1/logs?master_id=${bob.id}`, alice.key), 'query');
      expect((await get(`/v1/logs?master_id=${bob.id}`, alice.key)).text).to.contain('master_id');
      expect((await get('/v1/logs?include_body=true', alice.key)).status).to.equal(400);
      expectFieldError(await get(`/v1/logs?since=${encodeURIComponent(new Date(START - 40 * DAY).toISOString())}`, alice.key), 'query.since');
      expectError(await get('/v1/logs', null), 401, 'unauthorized');
      expectError(await get('/v1/logs', ADMIN_TOKEN), 401, 'unauthorized');
      expectError(await call('GET', '/v1/logs', undefined, { Authorization: `Bearer ${alice.key}x` }), 401, 'unauthorized');
    });
  });

  it('bounds every query on created_at, so PostgreSQL scans only the partitions of the range', async function () {
    const statements: Array<{ sql: string; bindings: readonly unknown[] }> = [];
    const listener = (q: { sql: string; bindings?: readonly unknown[] }) => {
      if (/from "request_logs"/.test(q.sql)) statements.push({ sql: q.sql, bindings: q.bindings ?? [] });
    };
    knex().on('query', listener);
    try {
      expect((await get('/admin/logs?status=5xx')).status).to.equal(200);
    } finally {
      knex().off('query', listener);
    }
    expect(statements).to.have.length(1);
    const { sql, bindings } = statements[0]!;
    expect(sql).to.match(/"created_at" >= \$\d+/).and.match(/"created_at" < \$\d+/);
    // The driver's $n placeholders, in order, back to knex's `?` for EXPLAIN.
    const { rows } = await knex().raw<{ rows: Array<{ 'QUERY PLAN': string }> }>(`explain ${sql.replace(/\$\d+/g, '?')}`, [...bindings] as Knex.RawBinding[]);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    // The migration keeps partitions for the coming days: none of them may be scanned for the last 24 h.
    const inThreeDays = new Date(Date.now() + 3 * DAY).toISOString().slice(0, 10).replace(/-/g, '');
    expect((await knex().raw<{ rows: Array<{ c: string | null }> }>('select to_regclass(?) as c', [`request_logs_p${inThreeDays}`])).rows[0]!.c).to.not.equal(null);
    expect(plan).to.contain('request_logs_p');
    expect(plan).to.not.contain(`request_logs_p${inThreeDays}`);
  });

  it('every logs route is in /openapi.json with its security', async function () {
    const res = await api.req<{
      paths: Record<string, Record<string, { security: unknown[]; responses: Record<string, unknown>; parameters?: Array<{ name: string }> }>>;
      components: { securitySchemes: Record<string, Record<string, unknown>>; schemas: Record<string, unknown> };
    }>('GET', '/openapi.json', { token: null });
    expect(res.status).to.equal(200);
    const { paths, components } = res.body;
    expect(paths['/admin/logs']!.get!.security).to.deep.include({ adminBearer: [] });
    expect(paths['/admin/logs']!.get!.parameters!.map((p) => p.name)).to.include.members(['since', 'until', 'master_id', 'key_id', 'model', 'provider_group_id', 'api_key_id', 'status', 'request_id', 'limit', 'cursor', 'include_body']);
    expect(paths['/v1/logs']!.get!.security).to.deep.equal([{ masterBearer: [] }]);
    expect(paths['/v1/logs']!.get!.parameters!.map((p) => p.name)).to.not.include.members(['master_id', 'include_body']);
    expect(paths['/logs']!.post!.security).to.deep.equal([{ internalToken: [] }]);
    expect(paths['/logs']!.post!.responses).to.include.keys('202', '400', '401', '503');
    expect(components.securitySchemes.internalToken).to.deep.include({ type: 'apiKey', in: 'header', name: 'X-Internal-Token' });
    expect(components.schemas).to.include.keys('RequestLog', 'RequestLogList', 'LogBatch', 'RequestLogRecord');
  });
});
