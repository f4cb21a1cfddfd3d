import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { freePort } from '../../src/lib/local-services.js';
import { createLogger } from '../../src/lib/logger.js';
import { testEnv } from '../support/hooks.js';

const MASTER = 'gateway-test-master-secret-0123456789abcdef';
const logger = createLogger({ level: 'silent' });

function gatewayConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ env: { EZ_ENV: 'test', EZ_REDIS_URL: testEnv().redisUrl, EZ_QUEUE_PREFIX: 'ez-gw-test', ...env }, cwd: tmpdir() });
}

/** A client whose every key lives under a unique prefix, so tests never see each other's keys. */
function prefixedRedis(prefix: string, url = testEnv().redisUrl): Redis {
  const redis = new Redis(url, { keyPrefix: prefix, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  redis.on('error', () => {});
  return redis;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

/** node:http request, so the test controls the agent (keep-alive) and chunked bodies. */
function request(
  base: string,
  options: { method?: string; path: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; chunks?: Buffer[]; agent?: http.Agent },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(options.path, base), { method: options.method ?? 'GET', headers: options.headers, agent: options.agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket }));
    });
    req.on('error', reject);
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end(options.body);
  });
}

const json = (reply: Reply): unknown => JSON.parse(reply.body);

describe('gateway', () => {
  let prefix: string;
  let redis: Redis;
  let seed: Redis;
  let gateway: RunningServer | undefined;

  const start = async (options: { config?: Config; redis?: Redis } = {}) => {
    gateway = await startGateway({
      config: options.config ?? gatewayConfig(),
      secrets: { master: MASTER },
      redis: options.redis ?? redis,
      logger,
      port: 0,
      host: '127.0.0.1',
    });
    return gateway;
  };

  const issueKey = async (status = 'active') => {
    const key = `ezk_${randomUUID().replaceAll('-', '')}`;
    await seed.hset(`auth:token:${new KeyDigester(MASTER).digest(key)}`, { id: '1', status, master_id: '1', scopes: '["*"]' });
    await seed.hset('auth:master:1', { id: '1', status: 'active', epoch: '0', namespaces: '["default"]', default_namespace: 'default' });
    return key;
  };

  beforeEach(async () => {
    prefix = `gw-test-${randomUUID().slice(0, 8)}:`;
    redis = prefixedRedis(prefix);
    seed = prefixedRedis(prefix);
    await Promise.all([redis.ping(), seed.ping()]);
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    // KEYS patterns are not prefixed by ioredis, its arguments to DEL are: strip the prefix.
    const keys = await seed.keys(`${prefix}*`);
    if (keys.length) await seed.del(...keys.map((k) => k.slice(prefix.length)));
    redis.disconnect();
    seed.disconnect();
  });

  describe('GET /health', () => {
    it('answers 200 with the config version from Redis', async () => {
      const { url } = await start();
      expect(json(await request(url, { path: '/health' }))).to.deep.include({ status: 'ok', redis: 'up', config_version: 0, loaded_config_version: 0 });
      await seed.set('config:version', '7');
      const reply = await request(url, { path: '/health' });
      expect(reply.status).to.equal(200);
      expect(json(reply)).to.deep.include({ status: 'ok', redis: 'up', config_version: 7 });
    });

    it('GET /health/ready answers 200 with the loaded config version once listening', async () => {
      const { url } = await start();
      const reply = await request(url, { path: '/health/ready' });
      expect(reply.status).to.equal(200);
      expect(json(reply)).to.deep.include({ status: 'ready', loaded_config_version: 0 });
    });

    it('answers 503 quickly when Redis is unreachable, without revealing where Redis is', async () => {
      const deadUrl = `redis://127.0.0.1:${await freePort()}/0`;
      const dead = prefixedRedis(prefix, deadUrl);
      try {
        const { url } = await start({ redis: dead });
        const started = Date.now();
        const reply = await request(url, { path: '/health' });
        expect(Date.now() - started).to.be.below(1_500);
        expect(reply.status).to.equal(503);
        expect(json(reply)).to.deep.include({ status: 'unavailable', redis: 'down', config_version: null });
        expect(reply.body).not.to.include('127.0.0.1');

        const key = 'ezk_whatever_key_0001';
        const proxied = await request(url, { method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, body: '{}' });
        expect(proxied.status).to.equal(503);
        expect(json(proxied)).to.have.nested.property('error.code', 'service_unavailable');
        expect(proxied.headers['retry-after']).to.equal('1');
      } finally {
        dead.disconnect();
      }
    });
  });

  it('GET /metrics exposes Prometheus text with requests counted by route and status', async () => {
    const { url } = await start();
    await request(url, { path: '/health' });
    await request(url, { path: '/nope' });
    const reply = await request(url, { path: '/metrics' });
    expect(reply.status).to.equal(200);
    expect(reply.headers['content-type']).to.include('text/plain');
    expect(reply.body).to.match(/ez_gateway_http_requests_total\{route="health",status="200",process="gateway"\} 1/);
    expect(reply.body).to.match(/ez_gateway_http_requests_total\{route="unmatched",status="404",process="gateway"\} 1/);
    expect(reply.body).to.include('ez_process_cpu_user_seconds_total');
  });

  it('an unknown route is a 404 in the OpenAI shape', async () => {
    const { url } = await start();
    const reply = await request(url, { path: '/v2/anything' });
    expect(reply.status).to.equal(404);
    expect(json(reply)).to.deep.equal({
      error: { message: 'Unknown route: GET /v2/anything', type: 'invalid_request_error', param: null, code: 'not_found' },
    });
  });

  it('a known route with the wrong method is a 405 naming the allowed one', async () => {
    const { url } = await start();
    const reply = await request(url, { path: '/v1/chat/completions' });
    expect(reply.status).to.equal(405);
    expect(reply.headers.allow).to.equal('POST');
    expect(json(reply)).to.have.nested.property('error.code', 'method_not_allowed');
  });

  describe('X-Request-ID', () => {
    it('echoes a valid request id on every response', async () => {
      const { url } = await start();
      for (const path of ['/health', '/nope', '/v1/models']) {
        const reply = await request(url, { path, headers: { 'x-request-id': 'trace-42:abc.DEF_1' } });
        expect(reply.headers['x-request-id'], path).to.equal('trace-42:abc.DEF_1');
      }
    });

    it('replaces an invalid one with a fresh UUID', async () => {
      const { url } = await start();
      const reply = await request(url, { path: '/health', headers: { 'x-request-id': 'has space<script>' } });
      expect(reply.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
      const long = await request(url, { path: '/health', headers: { 'x-request-id': 'a'.repeat(129) } });
      expect(long.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    });
  });

  describe('client keys', () => {
    it('chat completions without a key is a 401 in the OpenAI shape', async () => {
      const { url } = await start();
      const reply = await request(url, { method: 'POST', path: '/v1/chat/completions', body: '{}' });
      expect(reply.status).to.equal(401);
      expect(json(reply)).to.have.nested.include({ 'error.type': 'invalid_request_error', 'error.code': 'missing_api_key', 'error.param': null });
    });

    it('an unknown bearer key is a 401 with the generic message, never echoing the key', async () => {
      const { url } = await start();
      const key = 'ezk_unknown_key_0123456789';
      const reply = await request(url, { method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, body: '{}' });
      expect(reply.status).to.equal(401);
      expect(json(reply)).to.deep.equal({ error: { message: 'Invalid API key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
      expect(reply.body).not.to.include(key);
    });

    it('/v1/messages with an unknown x-api-key is a 401 in the Anthropic shape', async () => {
      const { url } = await start();
      const reply = await request(url, { method: 'POST', path: '/v1/messages', headers: { 'x-api-key': 'ezk_unknown_anthropic' }, body: '{}' });
      expect(reply.status).to.equal(401);
      expect(json(reply)).to.deep.equal({ type: 'error', error: { type: 'authentication_error', message: 'Invalid API key' } });
    });

    it('/v1beta with an unknown ?key= is a 401 in the Gemini shape', async () => {
      const { url } = await start();
      const reply = await request(url, { method: 'POST', path: '/v1beta/models/gemini-2.0-flash:generateContent?key=ezk_unknown_gemini', body: '{}' });
      expect(reply.status).to.equal(401);
      expect(json(reply)).to.deep.equal({ error: { code: 401, message: 'Invalid API key', status: 'UNAUTHENTICATED' } });
    });

    it('a disabled key is refused exactly like an unknown one', async () => {
      const { url } = await start();
      const key = await issueKey('disabled');
      const reply = await request(url, { path: '/v1/models', headers: { authorization: `Bearer ${key}` } });
      expect(reply.status).to.equal(401);
      expect(json(reply)).to.have.nested.property('error.message', 'Invalid API key');
    });

    it('a key whose records exist gets past authentication: an unknown model is a 404 in the client format', async () => {
      const { url } = await start();
      const key = await issueKey();
      const cases = [
        { method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, check: 'error.code' },
        { method: 'GET', path: '/v1/models', headers: { authorization: `Bearer ${key}` }, check: 'error.code' },
        { method: 'POST', path: '/v1/messages/count_tokens', headers: { 'x-api-key': key }, check: 'error.type' },
        { method: 'POST', path: '/v1beta/models/gemini-2.0-flash:streamGenerateContent', headers: { 'x-goog-api-key': key }, check: 'error.status' },
        { method: 'GET', path: `/v1beta/models?key=${key}`, headers: {}, check: 'error.status' },
      ];
      for (const c of cases) {
        const reply = await request(url, { method: c.method, path: c.path, headers: c.headers, body: c.method === 'POST' ? '{"model":"nope"}' : undefined });
        expect(reply.status, c.path).to.equal(c.method === 'GET' ? 200 : 404);
        if (c.method === 'POST') expect(json(reply), c.path).to.have.nested.property(c.check);
      }
    });
  });

  describe('bodies and connections', () => {
    it('refuses a body over the limit with 413 in the client format (declared or chunked)', async () => {
      const { url } = await start({ config: gatewayConfig({ EZ_GATEWAY_BODY_LIMIT_BYTES: '1024' }) });
      const key = await issueKey();
      const declared = await request(url, { method: 'POST', path: '/v1/messages', headers: { 'x-api-key': key }, body: Buffer.alloc(2048, 'a') });
      expect(declared.status).to.equal(413);
      expect(json(declared)).to.deep.equal({ type: 'error', error: { type: 'request_too_large', message: 'Request body exceeds the limit of 1024 bytes' } });
      expect(declared.headers.connection).to.equal('close');

      const chunked = await request(url, {
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { authorization: `Bearer ${key}`, 'transfer-encoding': 'chunked' },
        chunks: [Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')],
      });
      expect(chunked.status).to.equal(413);
      expect(json(chunked)).to.have.nested.property('error.code', 'payload_too_large');
    });

    it('an unread request body does not break keep-alive', async () => {
      const { url } = await start();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await request(url, { method: 'POST', path: '/v1/chat/completions', headers: { authorization: 'Bearer ezk_unknown_0000' }, body: Buffer.alloc(200_000, 'x'), agent });
        expect(first.status).to.equal(401);
        const second = await request(url, { path: '/health', agent });
        expect(second.status).to.equal(200);
        expect(second.reusedSocket).to.equal(true);
      } finally {
        agent.destroy();
      }
    });

    it('close() resolves promptly with an idle keep-alive connection open', async () => {
      const running = await start();
      const agent = new http.Agent({ keepAlive: true });
      try {
        expect((await request(running.url, { path: '/health', agent })).status).to.equal(200);
        const started = Date.now();
        await running.close();
        expect(Date.now() - started).to.be.below(1_000);
        gateway = undefined;
      } finally {
        agent.destroy();
      }
    });
  });
});
