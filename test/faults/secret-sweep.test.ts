import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues } from '../../jobs/queues.js';
import { freePort } from '../../src/lib/local-services.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { startGatewayProcess, waitForConfigVersion, type GatewayProcess } from '../support/gateway-process.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockOAuth, type MockOAuth } from '../support/mock-oauth.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';
import { spawnEntry, waitForHttp, waitForOutput, type SpawnedProcess } from '../support/process.js';
import { dumpPostgres, dumpRedis, findCanaries, type Canary } from './support/secret-scan.js';

/**
 * DESIGN §9 invariant 6: real api, worker and gateway processes run with canary secrets (master
 * secret, admin token, internal token, upstream keys, OAuth access and refresh tokens, master and
 * child keys, webhook and log-webhook secrets, a wrong client key, a secret sent in a refused
 * body). The test exercises the system — proxied requests incl. upstream 401/500 and failover,
 * bad keys, an OAuth refresh, admin reads, a signed webhook delivery, refused writes — then
 * searches for every canary and its base64 / base64url / URL-encoded forms in: each process's
 * stdout/stderr (at debug level), every Redis value but the provider snapshot `config:providers`
 * (sampled throughout the run, so short-lived job data is seen too), every PostgreSQL column but
 * ciphertext/nonce/digest columns, every HTTP response the test received (except the one-time
 * creation answers and the audited reveal the design allows), webhook deliveries, and `/metrics`
 * and health output of api and gateway. Pass line: zero hits.
 */
const hex = () => randomBytes(12).toString('hex');
const MODEL = 'gpt-canary-mini';
const OAUTH_MODEL = 'claude-canary-1';

describe('secret sweep: canaries appear nowhere (invariant 6)', function () {
  this.timeout(300_000);
  const prefix = `ez-sweep-${randomUUID().slice(0, 8)}`;
  const canary = {
    masterSecret: `CANARYmastersecret-${hex()}${hex()}`,
    adminToken: `ezadm_CANARYadmin-${hex()}`,
    internalToken: `ezint_CANARYinternal-${hex()}`,
    upstreamA: `sk-CANARYupstreamA-${hex()}`,
    upstreamB: `sk-CANARYupstreamB-${hex()}`,
    oauthAccess: `CANARYaccess-${hex()}`,
    oauthRefresh: `CANARYrefresh-${hex()}`,
    oauthAccess2: `CANARYaccess2-${hex()}`,
    oauthRefresh2: `CANARYrefresh2-${hex()}`,
    webhookKey: `CANARYwebhook-${hex()}`,
    logWebhookSecret: `CANARYlogwebhook-${hex()}`,
    wrongClientKey: `ezk_CANARYwrongclient-${hex()}`,
    wrongAdminToken: `ezadm_CANARYwrongadmin-${hex()}`,
    refusedBodySecret: `sk-CANARYrefused-${hex()}`,
  };
  let mock: MockUpstream;
  let oauth: MockOAuth;
  let receiver: http.Server;
  const deliveries: string[] = [];
  let redis: Redis;
  let dataDir: string;
  let api: SpawnedProcess | undefined;
  let worker: SpawnedProcess | undefined;
  let gateway: GatewayProcess | undefined;
  /** Every HTTP answer the test got, except the allowed one-time ones. */
  const responses: Array<{ where: string; text: string }> = [];
  const redisSamples: Array<{ where: string; text: string }> = [];

  before(async function () {
    this.timeout(120_000);
    await resetDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), 'ez-sweep-'));
    mock = await startMockUpstream();
    oauth = await startMockOAuth();
    oauth.script.push(
      { status: 200, body: { access_token: canary.oauthAccess2, refresh_token: canary.oauthRefresh2, expires_in: 3_600, token_type: 'Bearer' } },
      { status: 200, body: { access_token: `${canary.oauthAccess2}x`, refresh_token: `${canary.oauthRefresh2}x`, expires_in: 3_600, token_type: 'Bearer' } },
    );
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        deliveries.push(`${JSON.stringify(req.headers)}\n${Buffer.concat(chunks).toString('utf8')}`);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'secret-sweep-test');
    await waitForRedis(redis);
    await redis.flushdb();
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all([api, worker].map((p) => p?.stop('SIGKILL').catch(() => undefined)));
    await gateway?.stop('SIGKILL').catch(() => undefined);
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix);
    for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await redis.flushdb().catch(() => undefined);
    await closeRedis(redis);
    await mock?.close();
    await oauth?.close();
    await new Promise((resolve) => receiver?.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
    await resetDatabase();
  });

  it('no canary appears in process logs, job data, Redis, PostgreSQL, HTTP answers, webhooks, /metrics or health', async () => {
    const env = (extra: Record<string, string>): Record<string, string> => ({
      EZ_ENV: 'test',
      EZ_HOST: '127.0.0.1',
      EZ_DATA_DIR: dataDir,
      EZ_LOG_LEVEL: 'debug',
      EZ_PG_DSN: testEnv().pgUrl,
      EZ_REDIS_URL: testEnv().redisUrl,
      EZ_QUEUE_PREFIX: prefix,
      EZ_SECRET: canary.masterSecret,
      EZ_ADMIN_TOKEN: canary.adminToken,
      EZ_INTERNAL_TOKEN: canary.internalToken,
      EZ_OAUTH_TOKEN_URL_CLAUDE_CODE: `${oauth.url}/token`,
      EZ_WEBHOOK_BACKOFF_MS: '500',
      ...extra,
    });
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    api = spawnEntry('src/bin/api.ts', [], env({ EZ_API_PORT: String(apiPort) }));
    worker = spawnEntry('src/bin/worker.ts', [], env({ EZ_WORKER_LOCK_DURATION_MS: '3000', EZ_WORKER_STALLED_INTERVAL_MS: '1000' }));
    await waitForHttp(`${apiUrl}/health/ready`, api, { timeoutMs: 60_000 });
    await waitForOutput(worker, 'worker started', 60_000);

    // Redis is sampled throughout: job data may live only for the moment a job waits.
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        redisSamples.push(...(await dumpRedis(redis, (key) => key === RedisKeys.providers).catch(() => [])));
        await sleep(250);
      }
    })();

    const send = async (base: string, method: string, target: string, options: { headers?: Record<string, string>; body?: unknown; capture?: boolean } = {}) => {
      const res = await fetch(`${base}${target}`, {
        method,
        headers: { ...options.headers, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      if (options.capture !== false) responses.push({ where: `${method} ${base === apiUrl ? 'api' : 'gateway'} ${target} → ${res.status}`, text: `${JSON.stringify([...res.headers])}\n${text}` });
      return { status: res.status, text, json: (() => { try { return JSON.parse(text) as Record<string, unknown>; } catch { return {}; } })() };
    };
    const admin = { authorization: `Bearer ${canary.adminToken}` };
    const adminCall = async (method: string, target: string, body?: unknown, capture = true) => {
      const res = await send(apiUrl, method, target, { headers: admin, body, capture });
      expect(res.status, `${method} ${target}: ${res.text}`).to.be.within(200, 299);
      return res.json;
    };

    // --- configuration with canary secrets ---------------------------------------------------
    const provider = await adminCall('POST', '/admin/providers/custom', { name: 'canary-openai', base_url: `${mock.url}/v1`, api_key: canary.upstreamA, models: [MODEL] });
    const groupId = (provider.group as { id: number }).id;
    const keyA = (provider.api_key as { id: number }).id;
    await adminCall('POST', '/admin/api-keys', { group_id: groupId, api_key: canary.upstreamB });
    const oauthGroup = await adminCall('POST', '/admin/provider-groups', { name: 'canary-claude', type: 'claude-code', base_url: mock.url, models: [OAUTH_MODEL] });
    const oauthKey = await adminCall('POST', '/admin/api-keys', {
      group_id: oauthGroup.id,
      api_key: canary.oauthAccess,
      refresh_token: canary.oauthRefresh,
      access_token_expires_at: new Date(Date.now() + 6 * 3_600_000).toISOString(),
    });
    // One-time answers the design allows: the master key and child key at creation, the webhook secret.
    const master = await adminCall('POST', '/admin/masters', { name: 'canary-tenant', global_qps: 0 }, false);
    const masterKey = master.key as string;
    const child = await adminCall('POST', `/admin/masters/${master.id as number}/keys`, { name: 'canary-app' }, false);
    const childKey = child.key as string;
    const selfIssued = await send(apiUrl, 'POST', '/v1/tokens', { headers: { authorization: `Bearer ${masterKey}` }, body: { name: 'self-issued' }, capture: false });
    expect(selfIssued.status, selfIssued.text).to.equal(201);
    const selfKey = selfIssued.json.key as string;
    const webhookSecret = `whsec_${Buffer.from(canary.webhookKey).toString('base64')}`;
    const webhook = await adminCall('POST', '/admin/webhooks', { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret: webhookSecret }, false);
    await adminCall('PUT', '/admin/log-webhook', { enabled: true, url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/log-hook`, secret: canary.logWebhookSecret, error_count_threshold: 1, window_seconds: 60 });

    const canaries: Canary[] = [
      ...Object.entries(canary).map(([label, value]) => ({ label, value, forms: [value.slice(value.indexOf('CANARY'))] })),
      { label: 'webhook secret', value: webhookSecret, forms: [webhookSecret.slice('whsec_'.length)] },
      { label: 'master key', value: masterKey, forms: [masterKey.slice(8)] },
      { label: 'child key', value: childKey, forms: [childKey.slice(8)] },
      { label: 'self-issued child key', value: selfKey, forms: [selfKey.slice(8)] },
    ];

    // --- traffic through the gateway ----------------------------------------------------------
    await adminCall('POST', '/admin/sync/snapshot');
    let version = 0;
    for (let i = 0; i < 100 && version === 0; i++) {
      version = Number(await redis.get(RedisKeys.configVersion));
      if (version === 0) await sleep(100);
    }
    gateway = await startGatewayProcess({
      redisUrl: testEnv().redisUrl,
      queuePrefix: prefix,
      env: { EZ_SECRET: canary.masterSecret, EZ_LOG_LEVEL: 'debug', EZ_LOG_FLUSH_MS: '100', EZ_INTERNAL_TOKEN: canary.internalToken },
    });
    const gw = gateway.url;
    await waitForConfigVersion(gw, version, 30_000);
    const chat = (headers: Record<string, string>, model = MODEL, extra: Record<string, unknown> = {}, target = '/v1/chat/completions') =>
      send(gw, 'POST', target, { headers, body: { model, messages: [{ role: 'user', content: 'hi' }], ...extra } });
    let ok = 0;
    for (let i = 0; i < 100 && ok === 0; i++) {
      if ((await chat({ authorization: `Bearer ${childKey}` })).status === 200) ok++;
      else await sleep(200);
    }
    expect(ok, 'the gateway serves the canary tenant').to.equal(1);
    for (let i = 0; i < 10; i++) expect((await chat({ authorization: `Bearer ${childKey}` })).status).to.equal(200);
    expect((await chat({ authorization: `Bearer ${selfKey}` }, MODEL, { stream: true })).status).to.equal(200);
    expect((await send(gw, 'GET', `/v1/models?key=${encodeURIComponent(childKey)}`)).status).to.equal(200);
    await chat({ 'x-api-key': childKey }, MODEL, { max_tokens: 16 }, '/v1/messages');
    // Upstream failures: a 401 (the key is marked, the request fails over), a 500, a refused key.
    mock.faults.push({ kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } } });
    await chat({ authorization: `Bearer ${childKey}` });
    mock.faults.push({ kind: 'status', status: 500 }, { kind: 'status', status: 500 }, { kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    await chat({ authorization: `Bearer ${childKey}` });
    expect((await chat({ authorization: `Bearer ${canary.wrongClientKey}` })).status).to.equal(401);
    expect((await send(gw, 'GET', `/v1/models?key=${canary.wrongClientKey}`)).status).to.equal(401);

    // --- the control plane: refresh, reads, refused writes, a webhook delivery ---------------
    await adminCall('POST', `/admin/api-keys/${oauthKey.id as number}/refresh`);
    // The OAuth upstream: served with the refreshed token, then a 401 asks the worker for another refresh.
    await sleep(1_100);
    mock.faults.length = 0;
    const oauthOk = await chat({ authorization: `Bearer ${childKey}` }, OAUTH_MODEL, { max_tokens: 16 }, '/v1/messages');
    mock.faults.push({ kind: 'status', status: 401 });
    const oauth401 = await chat({ authorization: `Bearer ${childKey}` }, OAUTH_MODEL, { max_tokens: 16 }, '/v1/messages');
    expect(oauthOk.status, oauthOk.text).to.equal(200);
    expect(oauth401.status, oauth401.text).to.be.at.least(400);
    expect(mock.requests.some((r) => JSON.stringify(r.headers).includes(canary.oauthAccess2)), 'the upstream got the refreshed access token').to.equal(true);
    const reveal = await send(apiUrl, 'GET', `/admin/api-keys/${keyA}/reveal`, { headers: admin, capture: false });
    expect(reveal.text, 'the audited reveal shows the upstream key (the one allowed place)').to.include(canary.upstreamA);
    for (const target of [
      '/admin/api-keys', `/admin/api-keys/${keyA}`, `/admin/api-keys/${oauthKey.id as number}`, '/admin/provider-groups', '/admin/masters',
      `/admin/masters/${master.id as number}`, `/admin/masters/${master.id as number}/keys`, `/admin/keys/${child.id as number}`, '/admin/webhooks',
      `/admin/webhooks/${webhook.id as number}`, '/admin/log-webhook', '/admin/audit?limit=200', '/admin/sync/status', '/admin/alerts', '/admin/features',
      '/admin/whoami', '/admin/dashboard/summary', '/admin/api-keys/stats/summary', '/admin/usage',
    ]) {
      await adminCall('GET', target);
    }
    for (const target of ['/v1/tokens', '/v1/logs', '/v1/usage', '/v1/realtime']) {
      expect((await send(apiUrl, 'GET', target, { headers: { authorization: `Bearer ${masterKey}` } })).status).to.equal(200);
    }
    expect((await send(apiUrl, 'GET', '/admin/masters', { headers: { authorization: `Bearer ${canary.wrongAdminToken}` } })).status).to.equal(401);
    expect((await send(apiUrl, 'GET', '/admin/queues', { headers: { authorization: `Basic ${Buffer.from(`admin:${canary.wrongAdminToken}`).toString('base64')}` } })).status).to.equal(401);
    expect((await send(apiUrl, 'POST', '/logs', { headers: { 'x-internal-token': canary.wrongAdminToken }, body: { records: [] } })).status).to.equal(401);
    expect((await send(apiUrl, 'POST', '/internal/stats/flush', { headers: { 'x-internal-token': canary.internalToken } })).status).to.be.within(200, 299);
    const refused = await send(apiUrl, 'POST', '/admin/api-keys', { headers: admin, body: { group_id: 'not-a-number', api_key: canary.refusedBodySecret, weight: -1 } });
    expect(refused.status).to.equal(400);
    const refusedDeep = await send(apiUrl, 'POST', '/admin/providers/custom', { headers: admin, body: `{"name":"x","api_key":"${canary.refusedBodySecret}","base_url":"ftp://nope","models":[]}` });
    expect(refusedDeep.status).to.equal(400);
    await adminCall('POST', `/admin/webhooks/${webhook.id as number}/test`);

    // --- let the asynchronous work finish: logs persisted, refresh asked, webhook delivered ---
    const deadline = Date.now() + 60_000;
    const rows = async () => Number((await testEnv().knex('request_logs').count<Array<{ n: string }>>('* as n'))[0]!.n);
    while (Date.now() < deadline && ((await rows()) < 15 || oauth.requests.length < 2 || !deliveries.some((d) => d.includes('webhook.test')))) await sleep(250);
    expect(await rows(), 'request logs persisted').to.be.at.least(15);
    expect(oauth.requests.length, 'OAuth refreshes (admin + after the upstream 401)').to.be.at.least(2);
    expect(oauth.requests.some((r) => r.fields.refresh_token === canary.oauthRefresh), 'the refresh used the canary refresh token').to.equal(true);
    expect(deliveries.some((d) => d.includes('webhook.test')), 'the webhook test was delivered').to.equal(true);

    // --- /metrics and health ------------------------------------------------------------------
    for (const target of ['/metrics', '/health', '/health/ready', '/status', '/about']) await send(apiUrl, 'GET', target);
    for (const target of ['/metrics', '/health', '/health/ready']) await send(gw, 'GET', target);
    sampling = false;
    await sampler;

    // Graceful stops flush what is buffered, so the shutdown logs are in the sweep too.
    await gateway.stop('SIGTERM');
    const outputs = { api: api.output, worker: worker.output, gateway: gateway.proc.output };
    await api.stop('SIGTERM');
    await worker.stop('SIGTERM');

    const places = [
      ...Object.entries(outputs).map(([name, output]) => ({ where: `${name} stdout/stderr`, text: output() })),
      ...redisSamples,
      ...(await dumpRedis(redis, (key) => key === RedisKeys.providers)),
      ...(await dumpPostgres(testEnv().knex, /ciphertext|nonce|digest/)),
      ...responses,
      ...deliveries.map((text, i) => ({ where: `webhook delivery ${i}`, text })),
    ];
    expect(outputs.gateway().length + outputs.api().length + outputs.worker().length, 'debug logs were written').to.be.above(1_000);
    expect(responses.length, 'answers captured').to.be.at.least(40);
    // Positive controls: the detector finds the upstream keys where they legitimately are.
    const snapshot = { where: 'config:providers', text: JSON.stringify(await redis.hgetall(RedisKeys.providers)) };
    expect(findCanaries(canaries, [snapshot]).join('\n')).to.include('upstreamA').and.include('upstreamB');
    expect(findCanaries(canaries, [{ where: 'upstream', text: JSON.stringify(mock.requests.map((r) => r.headers)) }]).join('\n')).to.include('upstreamA');
    const hits = findCanaries(canaries, places);
    expect(hits, `canaries found:\n${hits.slice(0, 20).join('\n')}`).to.deep.equal([]);
  });
});
