import { expect } from 'chai';
import { UniqueViolationError } from 'objection';
import { z } from 'zod';
import { defineRoute } from '../../src/api/route.js';
import { ADMIN_TOKEN, BODY_LIMIT_BYTES, basic, bearer, startTestApi, type ErrorJson, type TestApi } from './helpers.js';

/** objection's typings only declare Error's constructor; at runtime db-errors takes this shape. */
const DbUniqueViolation = UniqueViolationError as unknown as new (args: {
  nativeError: Error;
  client: string;
  table: string;
  columns: string[];
  constraint: string;
  schema: string;
}) => Error;

const DB_SECRET_TEXT = 'duplicate key value violates unique constraint "masters_name_key" Key (name)=(hunter2-secret)';

/** Routes only this test mounts: a body-taking route and routes that fail in known ways. */
const testRoutes = [
  defineRoute({
    method: 'post',
    path: '/test/echo',
    summary: 'Echo a validated body (test only)',
    tags: ['test'],
    auth: 'none',
    request: {
      query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional() }),
      body: z.object({ name: z.string().min(1), count: z.number().int() }),
    },
    responses: { 200: { description: 'The input', schema: z.object({ name: z.string(), count: z.number(), limit: z.number().optional() }) } },
    handler: (_ctx, { body, query }) => ({ name: body.name, count: body.count, limit: query.limit }),
  }),
  defineRoute({
    method: 'post',
    path: '/test/unique',
    summary: 'Throws a unique violation carrying database text (test only)',
    tags: ['test'],
    auth: 'none',
    responses: { 201: { description: 'never' } },
    handler: () => {
      throw new DbUniqueViolation({
        nativeError: Object.assign(new Error(DB_SECRET_TEXT), { code: '23505' }),
        client: 'postgres',
        table: 'masters',
        columns: ['name'],
        constraint: 'masters_name_key',
        schema: 'public',
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/test/raw-pg-error',
    summary: 'Throws a raw pg error as knex.raw would (test only)',
    tags: ['test'],
    auth: 'none',
    responses: { 200: { description: 'never' } },
    handler: () => {
      throw Object.assign(new Error(`insert into "keys" failed: ${DB_SECRET_TEXT}`), { code: '23505', severity: 'ERROR' });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/test/boom',
    summary: 'Throws a plain error (test only)',
    tags: ['test'],
    auth: 'none',
    responses: { 200: { description: 'never' } },
    handler: () => {
      throw new Error(`boom: ${DB_SECRET_TEXT}`);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/test/pg-down',
    summary: 'Throws a connection refusal (test only)',
    tags: ['test'],
    auth: 'none',
    responses: { 200: { description: 'never' } },
    handler: () => {
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432 postgres://ez:pw@db/ez'), { code: 'ECONNREFUSED' });
    },
  }),
];

describe('api app', function () {
  let api: TestApi;
  const get = (path: string, init?: RequestInit) => fetch(`${api.url}${path}`, init);
  const postJson = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${api.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });

  before(async function () {
    api = await startTestApi({ queueName: 'api-app-test', app: { extraRoutes: testRoutes } });
  });
  after(async function () {
    await api?.close();
  });

  describe('request ids', function () {
    it('echoes a well-formed incoming X-Request-ID', async function () {
      const res = await get('/status', { headers: { 'X-Request-ID': 'client-id:42.a_b' } });
      expect(res.status).to.equal(200);
      expect(res.headers.get('x-request-id')).to.equal('client-id:42.a_b');
    });

    it('replaces a malformed one and generates one when absent', async function () {
      const bad = await get('/status', { headers: { 'X-Request-ID': 'has spaces and <html>' } });
      expect(bad.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
      const none = await get('/status');
      expect(none.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
      expect(none.headers.get('x-request-id')).to.not.equal(bad.headers.get('x-request-id'));
    });

    it('is set on error responses too', async function () {
      const res = await get('/nope', { headers: { 'X-Request-ID': 'err-1' } });
      expect(res.status).to.equal(404);
      expect(res.headers.get('x-request-id')).to.equal('err-1');
    });
  });

  describe('public routes', function () {
    it('GET /status answers ok with security headers and no X-Powered-By', async function () {
      const res = await get('/status');
      expect(await res.json()).to.deep.equal({ status: 'ok' });
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(res.headers.get('x-frame-options')).to.equal('DENY');
      expect(res.headers.get('content-security-policy')).to.contain("default-src 'none'");
      expect(res.headers.get('x-powered-by')).to.equal(null);
    });

    it('GET /about returns name, version and commit', async function () {
      const body = (await (await get('/about')).json()) as Record<string, unknown>;
      expect(body).to.have.keys('name', 'version', 'commit');
      expect(body.name).to.equal('ez-api');
    });

    it('GET /health reports the process up without checking dependencies', async function () {
      const body = (await (await get('/health')).json()) as { status: string; uptime_seconds: number };
      expect(body.status).to.equal('ok');
      expect(body.uptime_seconds).to.be.a('number');
    });

    it('GET /metrics serves Prometheus text with the request histogram', async function () {
      await get('/status');
      const res = await get('/metrics');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.contain('text/plain');
      const text = await res.text();
      expect(text).to.contain('# TYPE ez_http_request_duration_seconds histogram');
      expect(text).to.match(/ez_http_request_duration_seconds_count\{[^}]*method="GET"[^}]*route="\/status"[^}]*status="200"/);
      expect(text).to.contain('ez_process_cpu_seconds_total');
      expect(text).to.not.contain(ADMIN_TOKEN);
    });

    it('GET /openapi.json is an OpenAPI 3.1 document of every route, the error schema and admin security', async function () {
      const res = await get('/openapi.json');
      expect(res.status).to.equal(200);
      const doc = (await res.json()) as {
        openapi: string;
        paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
        components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme: string }> };
      };
      expect(doc.openapi).to.match(/^3\.1\./);
      for (const path of ['/status', '/about', '/health', '/health/ready', '/metrics', '/openapi.json', '/docs', '/admin/whoami', '/test/echo']) {
        expect(doc.paths, path).to.have.property(path);
      }
      expect(doc.paths).to.not.have.property('/docs/assets/{file}');
      expect(doc.components.schemas).to.have.property('ErrorResponse');
      expect(doc.components.securitySchemes.adminBearer).to.deep.include({ type: 'http', scheme: 'bearer' });
      expect(doc.paths['/admin/whoami']!.get!.security).to.deep.include({ adminBearer: [] });
      expect(doc.paths['/admin/whoami']!.get!.responses).to.have.property('401');
      const actor = doc.components.schemas.Actor as { properties: Record<string, unknown>; required: string[] };
      expect(Object.keys(actor.properties).sort()).to.deep.equal(['admin_id', 'id', 'name', 'role', 'type']);
      expect([...actor.required].sort()).to.deep.equal(['id', 'role', 'type']);
      expect(doc.paths['/test/echo']!.post!.responses).to.have.property('400');
    });

    it('GET /docs serves Swagger UI from local files pointed at /openapi.json', async function () {
      const res = await get('/docs');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.contain('text/html');
      const html = await res.text();
      expect(html).to.contain('/docs/assets/swagger-ui-bundle.js');
      expect(html).to.not.match(/https?:\/\//);
      const init = await (await get('/docs/init.js')).text();
      expect(init).to.contain("url: '/openapi.json'");
      const bundle = await get('/docs/assets/swagger-ui-bundle.js');
      expect(bundle.status).to.equal(200);
      expect(bundle.headers.get('content-type')).to.contain('javascript');
      await bundle.arrayBuffer();
      expect((await get('/docs/assets/package.json')).status).to.equal(404);
      expect((await get('/docs/assets/..%2f..%2fpackage.json')).status).to.equal(404);
    });
  });

  describe('routing errors', function () {
    it('an unknown route is 404 route_not_found with the JSON error body', async function () {
      const res = await get('/no/such/route');
      expect(res.status).to.equal(404);
      expect(res.headers.get('content-type')).to.contain('application/json');
      const body = (await res.json()) as ErrorJson;
      expect(body.error.code).to.equal('route_not_found');
      expect(body.error.message).to.be.a('string');
    });

    it('a wrong method is 405 method_not_allowed with Allow', async function () {
      const res = await fetch(`${api.url}/status`, { method: 'DELETE' });
      expect(res.status).to.equal(405);
      expect(res.headers.get('allow')).to.contain('GET');
      expect(((await res.json()) as ErrorJson).error.code).to.equal('method_not_allowed');
    });
  });

  describe('JSON bodies and validation', function () {
    it('accepts a valid body and typed query', async function () {
      const res = await postJson('/test/echo?limit=5', JSON.stringify({ name: 'a', count: 2 }));
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ name: 'a', count: 2, limit: 5 });
    });

    it('malformed JSON is 400 invalid_json without echoing the body', async function () {
      const res = await postJson('/test/echo', '{"name": "secret-value", ');
      expect(res.status).to.equal(400);
      const text = await res.text();
      expect((JSON.parse(text) as ErrorJson).error.code).to.equal('invalid_json');
      expect(text).to.not.contain('secret-value');
    });

    it('a body over the limit is 413 payload_too_large', async function () {
      const res = await postJson('/test/echo', JSON.stringify({ name: 'x'.repeat(BODY_LIMIT_BYTES * 2), count: 1 }));
      expect(res.status).to.equal(413);
      expect(((await res.json()) as ErrorJson).error.code).to.equal('payload_too_large');
    });

    it('a chunked body over the limit is 413 too', async function () {
      const chunk = new TextEncoder().encode(' '.repeat(1_024));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      const res = await fetch(`${api.url}/test/echo`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).to.equal(413);
      expect(((await res.json()) as ErrorJson).error.code).to.equal('payload_too_large');
    });

    it('a non-JSON content type is 415 unsupported_media_type', async function () {
      const res = await fetch(`${api.url}/test/echo`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'name=a' });
      expect(res.status).to.equal(415);
      expect(((await res.json()) as ErrorJson).error.code).to.equal('unsupported_media_type');
    });

    it('absurdly deep nesting is refused with 400', async function () {
      const res = await postJson('/test/echo', `{"name":${'['.repeat(500)}${']'.repeat(500)}}`);
      expect(res.status).to.equal(400);
      const body = (await res.json()) as ErrorJson;
      expect(body.error.code).to.equal('invalid_json');
      expect(body.error.message).to.contain('64');
    });

    it('field errors name each field as body.<name> / query.<name>', async function () {
      const res = await postJson('/test/echo?limit=1000', JSON.stringify({ name: '', count: 'three' }));
      expect(res.status).to.equal(400);
      const body = (await res.json()) as ErrorJson;
      expect(body.error.code).to.equal('validation_failed');
      const fields = body.error.details!.map((d) => d.field);
      expect(fields).to.include.members(['body.name', 'body.count', 'query.limit']);
      for (const d of body.error.details!) expect(d.message).to.be.a('string').and.not.equal('');
    });

    it('a missing body is a validation error on `body`', async function () {
      const res = await fetch(`${api.url}/test/echo`, { method: 'POST' });
      expect(res.status).to.equal(400);
      const body = (await res.json()) as ErrorJson;
      expect(body.error.details!.map((d) => d.field)).to.deep.equal(['body']);
    });
  });

  describe('error mapping', function () {
    it('a unique violation is 409 conflict with a generic message, never the database text', async function () {
      const res = await fetch(`${api.url}/test/unique`, { method: 'POST' });
      expect(res.status).to.equal(409);
      const text = await res.text();
      expect((JSON.parse(text) as ErrorJson).error.code).to.equal('conflict');
      expect(text).to.not.contain('hunter2');
      expect(text).to.not.contain('masters_name_key');
    });

    it('a raw pg error from a knex query maps by SQLSTATE', async function () {
      const res = await get('/test/raw-pg-error');
      expect(res.status).to.equal(409);
      expect(await res.text()).to.not.contain('hunter2');
    });

    it('an unexpected error is 500 internal_error "Internal server error"', async function () {
      const res = await get('/test/boom');
      expect(res.status).to.equal(500);
      expect(await res.json()).to.deep.equal({ error: { code: 'internal_error', message: 'Internal server error' } });
    });

    it('a refused database connection is 503 service_unavailable without the DSN', async function () {
      const res = await get('/test/pg-down');
      expect(res.status).to.equal(503);
      const text = await res.text();
      expect((JSON.parse(text) as ErrorJson).error.code).to.equal('service_unavailable');
      expect(text).to.not.contain('postgres://');
      expect(text).to.not.contain('10.0.0.1');
    });
  });

  describe('admin auth', function () {
    it('no token is 401 with a Bearer challenge', async function () {
      const res = await get('/admin/whoami');
      expect(res.status).to.equal(401);
      expect(res.headers.get('www-authenticate')).to.match(/^Bearer realm="EZ-API admin"/);
      expect(((await res.json()) as ErrorJson).error.code).to.equal('unauthorized');
    });

    it('a wrong token is 401', async function () {
      const res = await get('/admin/whoami', { headers: bearer(`${ADMIN_TOKEN}x`) });
      expect(res.status).to.equal(401);
      expect(await res.text()).to.not.contain(ADMIN_TOKEN);
    });

    it('the admin token is the bootstrap admin', async function () {
      const res = await get('/admin/whoami', { headers: bearer(ADMIN_TOKEN) });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ actor: { type: 'admin', id: 'bootstrap', role: 'admin' } });
    });

    it('HTTP Basic with any username and the token as password works', async function () {
      const res = await get('/admin/whoami', { headers: basic('anyone', ADMIN_TOKEN) });
      expect(res.status).to.equal(200);
      const wrong = await get('/admin/whoami', { headers: basic('anyone', 'nope-nope-nope') });
      expect(wrong.status).to.equal(401);
    });

    it('refuses cross-site writes carrying Basic credentials', async function () {
      const res = await fetch(`${api.url}/admin/queues/api/queues/${api.queue.name}/pause`, {
        method: 'PUT',
        headers: { ...basic('a', ADMIN_TOKEN), Origin: 'https://evil.example' },
      });
      expect(res.status).to.equal(403);
      expect(((await res.json()) as ErrorJson).error.code).to.equal('forbidden');
    });
  });

  describe('Bull Board', function () {
    it('refuses /admin/queues without credentials, with a Basic challenge for browsers', async function () {
      const res = await get('/admin/queues');
      expect(res.status).to.equal(401);
      expect(res.headers.get('www-authenticate')).to.match(/^Basic realm="EZ-API admin"/);
      expect((await get('/admin/queues/api/queues')).status).to.equal(401);
    });

    it('serves the board and its API to the admin (bearer or basic)', async function () {
      const page = await get('/admin/queues', { headers: basic('admin', ADMIN_TOKEN) });
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.contain('text/html');
      expect(await page.text()).to.contain('/admin/queues');
      const apiRes = await get('/admin/queues/api/queues', { headers: bearer(ADMIN_TOKEN) });
      expect(apiRes.status).to.equal(200);
      const queues = (await apiRes.json()) as { queues: Array<{ name: string }> };
      expect(queues.queues.map((q) => q.name)).to.include(api.queue.name);
    });
  });
});
