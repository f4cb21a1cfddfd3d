import { expect } from 'chai';
import type { Job } from 'bullmq';
import { createHash, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { processLogs } from '../../jobs/logs/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { openApiPath, type ApiRoute } from '../../src/api/route.js';
import { apiRoutes } from '../../src/api/routes/index.js';
import { LimitKeys } from '../../src/gateway/limits/limit-keys.js';
import type { RequestLogRecord } from '../../src/gateway/types.js';
import { loadConfig } from '../../src/lib/config.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { ADMIN_TOKEN, EZ_SECRET, startTestApi, type TestApi } from '../api/helpers.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

/**
 * DESIGN §9 invariant 7 as a matrix over the api's own route table (src/api/routes/index.ts), so
 * a route added there joins automatically:
 *  - every `master` route, called with master B's key and master A's ids in every path parameter,
 *    every `*id` query parameter and the body, leaks nothing of A (no A name, key, digest, request
 *    id, distinctive figure or id anywhere in the answer) and changes none of A's rows;
 *  - every `admin` route refuses master keys, child keys and the internal token (401/403) and the
 *    database is unchanged afterwards;
 *  - every `internal` route refuses master keys and the admin token, in either header.
 * A positive control (A's own key on every master GET route finds A's data) proves the leak
 * detector sees what it looks for.
 */

/** A's distinctive ids (sequences restarted so they cannot collide with B's or with counts). */
const A_MASTER_ID = 770_001;
const A_KEY_SEQ = 880_001;
const B_MASTER_ID = 660_001;
const B_KEY_SEQ = 990_001;
/** Distinctive figures in A's logs, usage, quota and realtime counters. */
const A_PROMPT_TOKENS = 987_653;
const A_COMPLETION_TOKENS = 123_457;
const A_LOGS = 3;
const A_RPS = 4_241;
const A_QUOTA_USED = 31_415_926;

interface Reply {
  status: number;
  text: string;
  json: unknown;
  headers: Headers;
}

async function call(base: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method: method.toUpperCase(),
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** Every string and number leaf of a JSON value (object keys included as strings). */
function leaves(value: unknown, out: { strings: string[]; numbers: number[] } = { strings: [], numbers: [] }) {
  if (typeof value === 'string') out.strings.push(value);
  else if (typeof value === 'number') out.numbers.push(value);
  else if (Array.isArray(value)) for (const item of value) leaves(item, out);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      out.strings.push(key);
      leaves(item, out);
    }
  }
  return out;
}

interface Markers {
  strings: string[];
  numbers: number[];
}

/** The markers of A found in an answer, ignoring values the probe itself sent (echoes). */
function leaksIn(reply: Reply, markers: Markers, sent: string): string[] {
  const found: string[] = [];
  const echoed = (value: string) => sent.includes(value);
  for (const marker of markers.strings) if (!echoed(marker) && reply.text.includes(marker)) found.push(marker);
  const { strings, numbers } = leaves(reply.json);
  for (const n of markers.numbers) {
    if (echoed(String(n))) continue;
    if (numbers.includes(n) || strings.includes(String(n))) found.push(String(n));
  }
  return found;
}

/** Values to try for a path or query parameter named `name`, from A's ids. */
function candidatesFor(name: string, a: { masterId: number; keyIds: number[] }): number[] {
  if (/master/i.test(name)) return [a.masterId];
  if (/key/i.test(name)) return a.keyIds;
  return [...a.keyIds, a.masterId];
}

function queryKeys(route: ApiRoute): string[] {
  const shape = (route.request?.query as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape ? Object.keys(shape) : [];
}

function pathParams(route: ApiRoute): string[] {
  return [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

/** One concrete call of a route: path with parameters filled, query string and body. */
interface Probe {
  route: ApiRoute;
  path: string;
  body: unknown;
}

/** Concrete calls of a master route aimed at A's data. */
function masterProbes(route: ApiRoute, a: { masterId: number; keyIds: number[] }): Probe[] {
  const params = pathParams(route);
  let paths = [route.path];
  for (const param of params) {
    paths = paths.flatMap((p) => candidatesFor(param, a).map((value) => p.replace(`:${param}`, String(value))));
  }
  const idQueries = queryKeys(route).filter((key) => /(^|_)ids?$/.test(key));
  const queries = [''];
  for (const key of idQueries) for (const value of candidatesFor(key, a)) queries.push(`?${key}=${value}`);
  if (idQueries.length > 1) queries.push(`?${idQueries.map((key) => `${key}=${candidatesFor(key, a)[0]}`).join('&')}`);
  const bodies: unknown[] = route.request?.body
    ? [{}, { name: 'b-probe' }, { name: 'b-probe', master_id: a.masterId, key_id: a.keyIds[0], id: a.keyIds[0] }]
    : [undefined];
  const probes: Probe[] = [];
  for (const path of paths) for (const query of queries) for (const body of bodies) probes.push({ route, path: `${path}${query}`, body });
  return probes;
}

/** A path for a route with every parameter filled with A's first matching id. */
function filledPath(route: ApiRoute, a: { masterId: number; keyIds: number[] }): string {
  let path = route.path;
  for (const param of pathParams(route)) path = path.replace(`:${param}`, String(candidatesFor(param, a)[0]));
  return path;
}

async function publicTables(): Promise<Array<{ table: string; columns: string[] }>> {
  const { rows } = await testEnv().knex.raw<{ rows: Array<{ table_name: string; column_name: string }> }>(
    `select c.table_name, c.column_name from information_schema.columns c
       join pg_class k on k.relname = c.table_name and k.relkind in ('r', 'p')
       join pg_namespace n on n.oid = k.relnamespace and n.nspname = 'public'
      where c.table_schema = 'public' and c.table_name not like 'knex_migrations%'
        and not k.relispartition
      order by c.table_name, c.ordinal_position`,
  );
  const tables = new Map<string, string[]>();
  for (const row of rows) tables.set(row.table_name, [...(tables.get(row.table_name) ?? []), row.column_name]);
  return [...tables].map(([table, columns]) => ({ table, columns }));
}

/** Every row that belongs to A (by master, key, object or outbox resource id), as JSON text. */
async function stateOfA(a: { masterId: number; keyIds: number[] }): Promise<Record<string, string[]>> {
  const knex = testEnv().knex;
  const ids = [a.masterId, ...a.keyIds].map(String);
  const out: Record<string, string[]> = {};
  for (const { table, columns } of await publicTables()) {
    const where: string[] = [];
    const bindings: string[] = [];
    const anyOf = (column: string, values: string[]) => {
      where.push(`"${column}"::text in (${values.map(() => '?').join(', ')})`);
      bindings.push(...values);
    };
    if (columns.includes('master_id')) anyOf('master_id', [String(a.masterId)]);
    if (columns.includes('key_id')) anyOf('key_id', a.keyIds.map(String));
    if (table === 'masters' || table === 'keys') anyOf('id', ids);
    for (const column of ['object_id', 'resource_id', 'subject_id']) if (columns.includes(column)) anyOf(column, ids);
    if (where.length === 0) continue;
    const { rows } = await knex.raw<{ rows: Array<{ j: string }> }>(
      `select row_to_json(t)::text as j from "${table}" t where ${where.join(' or ')} order by 1`,
      bindings,
    );
    out[table] = rows.map((r) => r.j);
  }
  return out;
}

/** A digest of every application row, for "nothing changed at all". */
async function wholeDatabase(): Promise<string> {
  const hash = createHash('sha256');
  for (const { table } of await publicTables()) {
    const { rows } = await testEnv().knex.raw<{ rows: Array<{ j: string }> }>(`select row_to_json(t)::text as j from "${table}" t order by 1`);
    hash.update(`${table}\n${rows.map((r) => r.j).join('\n')}\n`);
  }
  return hash.digest('hex');
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const INTERNAL_TOKEN = 'ezint_test-internal-token-0123456789';

describe('tenant isolation matrix over every route (invariant 7)', function () {
  this.timeout(300_000);
  let api: TestApi;
  const digester = new KeyDigester(EZ_SECRET);
  const a = { masterId: A_MASTER_ID, keyIds: [] as number[], masterKey: '', childKeys: [] as string[] };
  const b = { masterId: B_MASTER_ID, masterKey: '', childKey: '' };
  const markers: Markers = { strings: [], numbers: [] };
  const masterRoutes = apiRoutes.filter((r) => r.auth === 'master');
  const adminRoutes = apiRoutes.filter((r) => r.auth === 'admin');
  const internalRoutes = apiRoutes.filter((r) => r.auth === 'internal');

  before(async function () {
    this.timeout(60_000);
    await resetDatabase();
    api = await startTestApi({ queueName: 'faults-tenant' });
    const knex = testEnv().knex;
    const admin = (method: string, path: string, body?: unknown) => call(api.url, method, path, bearer(ADMIN_TOKEN), body);

    await knex.raw(`alter sequence masters_id_seq restart with ${A_MASTER_ID}`);
    await knex.raw(`alter sequence keys_id_seq restart with ${A_KEY_SEQ}`);
    const createdA = await admin('POST', '/admin/masters', { name: 'tenant-alpha-zq81' });
    expect(createdA.status, createdA.text).to.equal(201);
    const masterA = createdA.json as { id: number; key: string };
    expect(masterA.id).to.equal(A_MASTER_ID);
    a.masterKey = masterA.key;
    for (const name of ['alpha-token-laptop-q7', 'alpha-token-ci-w3']) {
      const res = await call(api.url, 'POST', '/v1/tokens', bearer(a.masterKey), { name });
      expect(res.status, res.text).to.equal(201);
      const token = res.json as { id: number; key: string };
      a.keyIds.push(token.id);
      a.childKeys.push(token.key);
    }
    const adminIssued = await admin('POST', `/admin/masters/${A_MASTER_ID}/keys`, { name: 'alpha-admin-issued-p5' });
    expect(adminIssued.status, adminIssued.text).to.equal(201);
    a.keyIds.push((adminIssued.json as { id: number }).id);
    a.childKeys.push((adminIssued.json as { key: string }).key);

    await knex.raw(`alter sequence masters_id_seq restart with ${B_MASTER_ID}`);
    await knex.raw(`alter sequence keys_id_seq restart with ${B_KEY_SEQ}`);
    const createdB = await admin('POST', '/admin/masters', { name: 'tenant-bravo-xk27' });
    expect(createdB.status, createdB.text).to.equal(201);
    b.masterKey = (createdB.json as { key: string }).key;
    const tokenB = await call(api.url, 'POST', '/v1/tokens', bearer(b.masterKey), { name: 'bravo-token' });
    expect(tokenB.status, tokenB.text).to.equal(201);
    b.childKey = (tokenB.json as { key: string }).key;

    // A's traffic history: logs + usage through the real logs processor, quota used, realtime counters.
    const processor: ProcessorContext = {
      config: loadConfig({ env: { EZ_ENV: 'test' }, cwd: tmpdir() }),
      knex,
      redis: api.deps.redis,
      secretBox: new SecretBox(EZ_SECRET),
      logger: createLogger({ level: 'silent' }),
      now: () => new Date(),
    };
    const requestIds: string[] = [];
    const records: RequestLogRecord[] = Array.from({ length: A_LOGS }, (_, i) => {
      const requestId = `alpha-req-${randomUUID()}`;
      requestIds.push(requestId);
      return {
        request_id: requestId,
        created_at: new Date(Date.now() - (i + 1) * 60_000).toISOString(),
        master_id: A_MASTER_ID,
        key_id: a.keyIds[i % a.keyIds.length]!,
        namespace: 'default',
        model: 'alpha-only-model-v9',
        upstream_model: 'alpha-upstream-model-v9',
        provider_group_id: 5,
        api_key_id: 7,
        format_in: 'openai',
        format_out: 'openai',
        stream: false,
        status_code: 200,
        error_code: null,
        error_message: null,
        latency_ms: 101,
        ttft_ms: null,
        prompt_tokens: A_PROMPT_TOKENS,
        completion_tokens: A_COMPLETION_TOKENS,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_list: 0.0123,
        cost_actual: 0.0123,
        usage_source: 'upstream',
        client_ip: '198.51.100.77',
        attempts: 1,
        request_body: null,
        abort_reason: null,
      };
    });
    await processLogs({ id: 'tenant-isolation', data: { records }, attemptsMade: 0, opts: {} } as unknown as Job<unknown>, processor);
    await knex('masters').where({ id: A_MASTER_ID }).update({ quota_used: A_QUOTA_USED });
    const now = Math.floor(Date.now() / 1_000);
    const pipeline = api.deps.redis.pipeline();
    for (let s = now - 120; s <= now + 300; s++) {
      pipeline.set(LimitKeys.statsMasterRequests('', A_MASTER_ID, s), A_RPS, 'EX', 900);
      pipeline.set(LimitKeys.statsMasterTokens('', A_MASTER_ID, s), A_RPS * 3, 'EX', 900);
    }
    await pipeline.exec();

    markers.strings.push(
      'tenant-alpha-zq81', 'alpha-token-laptop-q7', 'alpha-token-ci-w3', 'alpha-admin-issued-p5', 'alpha-only-model-v9',
      'alpha-upstream-model-v9', '198.51.100.77', a.masterKey, digester.digest(a.masterKey), ...requestIds,
      ...a.childKeys, ...a.childKeys.map((k) => digester.digest(k)),
    );
    markers.numbers.push(
      A_MASTER_ID, ...a.keyIds, A_PROMPT_TOKENS, A_COMPLETION_TOKENS, A_PROMPT_TOKENS * A_LOGS, A_COMPLETION_TOKENS * A_LOGS,
      (A_PROMPT_TOKENS + A_COMPLETION_TOKENS) * A_LOGS, A_QUOTA_USED, A_RPS, A_RPS * 60, A_RPS * 3 * 60,
    );
  });

  after(async () => {
    await api?.close();
    await resetDatabase();
  });

  it('the matrix covers every authenticated operation of /openapi.json', async () => {
    const doc = await call(api.url, 'GET', '/openapi.json', {});
    expect(doc.status).to.equal(200);
    const operations: string[] = [];
    for (const [path, item] of Object.entries((doc.json as { paths: Record<string, Record<string, { security?: unknown[] }>> }).paths)) {
      for (const [method, op] of Object.entries(item)) if (op.security && op.security.length > 0) operations.push(`${method} ${path}`);
    }
    const probed = new Set([...masterRoutes, ...adminRoutes, ...internalRoutes].map((r) => `${r.method} ${openApiPath(r.path)}`));
    expect(operations.filter((op) => !probed.has(op)), 'documented operations the matrix does not probe').to.deep.equal([]);
    expect(masterRoutes.length, 'master routes').to.be.at.least(6);
    expect(adminRoutes.length, 'admin routes').to.be.at.least(50);
    expect(internalRoutes.length, 'internal routes').to.be.at.least(3);
  });

  it("master A's own key finds A's data on every master read route (the detector's positive control)", async () => {
    for (const route of masterRoutes.filter((r) => r.method === 'get')) {
      const res = await call(api.url, 'GET', filledPath(route, a), bearer(a.masterKey));
      expect(res.status, `${route.path}: ${res.text}`).to.equal(200);
      expect(leaksIn(res, markers, ''), `A's own ${route.path} shows A's data`).to.not.deep.equal([]);
    }
  });

  it("master B's key with A's ids on every master route leaks nothing of A and changes none of A's rows", async () => {
    const before = await stateOfA(a);
    const findings: string[] = [];
    let probes = 0;
    for (const route of masterRoutes) {
      for (const probe of masterProbes(route, a)) {
        probes++;
        const sent = `${probe.path} ${JSON.stringify(probe.body ?? null)}`;
        const res = await call(api.url, route.method, probe.path, bearer(b.masterKey), probe.body);
        const label = `${route.method.toUpperCase()} ${sent} → ${res.status}`;
        if (res.status >= 500) findings.push(`${label}: server error ${res.text.slice(0, 200)}`);
        if (res.status >= 400 && !(res.json as { error?: { code?: string } } | undefined)?.error?.code) findings.push(`${label}: not a JSON error`);
        const leaked = leaksIn(res, markers, sent);
        if (leaked.length > 0) findings.push(`${label}: leaks ${leaked.join(', ')}`);
        // A read or write through a path naming A's object must not find it.
        if (pathParams(route).length > 0 && res.status < 300) findings.push(`${label}: reached A's object`);
        const after = await stateOfA(a);
        if (JSON.stringify(after) !== JSON.stringify(before)) findings.push(`${label}: changed A's rows`);
      }
    }
    expect(probes, 'probes run').to.be.at.least(masterRoutes.length);
    expect(findings).to.deep.equal([]);
  });

  it("A's child keys cannot act as a master: every master route answers 401/403", async () => {
    const before = await stateOfA(a);
    const findings: string[] = [];
    for (const route of masterRoutes) {
      const path = filledPath(route, a);
      const res = await call(api.url, route.method, path, bearer(a.childKeys[0]!), route.request?.body ? { name: 'child-probe' } : undefined);
      if (res.status !== 401 && res.status !== 403) findings.push(`${route.method} ${path} → ${res.status}`);
      if (leaksIn(res, markers, `${path} ${a.childKeys[0]}`).length > 0) findings.push(`${route.method} ${path} leaks`);
    }
    expect(findings).to.deep.equal([]);
    expect(await stateOfA(a)).to.deep.equal(before);
  });

  it('admin routes refuse master keys, child keys and the internal token; internal routes refuse master and admin credentials; nothing changes', async () => {
    const before = await wholeDatabase();
    const credentials: Array<[string, Record<string, string>]> = [
      ['master A', bearer(a.masterKey)],
      ['master B', bearer(b.masterKey)],
      ['child of A', bearer(a.childKeys[0]!)],
      ['child of B', bearer(b.childKey)],
      ['internal token', { 'x-internal-token': INTERNAL_TOKEN }],
      ['internal token as bearer', bearer(INTERNAL_TOKEN)],
      ['none', {}],
    ];
    const findings: string[] = [];
    let calls = 0;
    for (const route of adminRoutes) {
      const path = filledPath(route, a);
      for (const [who, headers] of credentials) {
        calls++;
        const res = await call(api.url, route.method, path, headers, route.request?.body ? { name: 'probe', master_id: A_MASTER_ID } : undefined);
        if (res.status !== 401 && res.status !== 403) findings.push(`${who}: ${route.method} ${path} → ${res.status}`);
        else if (!(res.json as { error?: { code?: string } } | undefined)?.error?.code) findings.push(`${who}: ${route.method} ${path}: not a JSON error`);
        if (leaksIn(res, markers, `${path} ${JSON.stringify(headers)}`).length > 0) findings.push(`${who}: ${route.method} ${path} leaks`);
      }
    }
    // Bull Board is served outside the route table.
    for (const [who, headers] of credentials) {
      const res = await call(api.url, 'GET', '/admin/queues', headers);
      if (res.status !== 401 && res.status !== 403) findings.push(`${who}: GET /admin/queues → ${res.status}`);
    }
    const internalCredentials: Array<[string, Record<string, string>]> = [
      ['master A as bearer', bearer(a.masterKey)],
      ['master A as internal token', { 'x-internal-token': a.masterKey }],
      ['admin as bearer', bearer(ADMIN_TOKEN)],
      ['admin as internal token', { 'x-internal-token': ADMIN_TOKEN }],
      ['child of A as internal token', { 'x-internal-token': a.childKeys[0]! }],
      ['none', {}],
    ];
    for (const route of internalRoutes) {
      for (const [who, headers] of internalCredentials) {
        calls++;
        const res = await call(api.url, route.method, filledPath(route, a), headers, route.request?.body ? { records: [] } : undefined);
        if (res.status !== 401 && res.status !== 403) findings.push(`${who}: ${route.method} ${route.path} → ${res.status}`);
      }
    }
    expect(calls).to.equal(adminRoutes.length * credentials.length + internalRoutes.length * internalCredentials.length);
    expect(findings).to.deep.equal([]);
    expect(await wholeDatabase(), 'no refused call changed any row').to.equal(before);
  });
});
