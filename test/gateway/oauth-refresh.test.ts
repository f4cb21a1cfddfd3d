import { expect } from 'chai';
import type { Redis } from 'ioredis';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues } from '../../jobs/queues.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { refreshTokenAad } from '../../src/domain/providers.service.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { publish, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { mockOAuthEnv, startMockOAuth, type MockOAuth } from '../support/mock-oauth.js';
import { TEST_SECRET } from '../support/sync.js';

/**
 * On-demand OAuth refresh end to end (DESIGN §8 `token-refresh`): a real gateway sends a
 * claude-code key's stale access token upstream, gets 401, enqueues a token refresh instead of
 * banning the key, and fails over; the worker (token-refresh + sync processors, in process)
 * refreshes at the mock token endpoint; within a second the gateway sends the NEW token.
 */

const STALE = 'stale-access-token-0000000000';
const FRESH = 'fresh-access-token-1111111111';
const MODEL = 'claude-sonnet-4';

/** An Anthropic-like upstream that refuses the stale bearer with 401 and records every bearer it saw. */
async function startBearerUpstream(): Promise<{ url: string; seen: Array<{ bearer: string; at: number }>; close(): Promise<void> }> {
  const seen: Array<{ bearer: string; at: number }> = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      seen.push({ bearer, at: Date.now() });
      if (bearer !== FRESH) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'OAuth token has expired.' } }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: MODEL,
          content: [{ type: 'text', text: 'ok' }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 3, output_tokens: 1 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('OAuth refresh on an upstream 401 (gateway → token-refresh → sync → gateway)', function () {
  this.timeout(60_000);
  const prefix = `ez-oauth-gw-${randomUUID().slice(0, 8)}`;
  const logger = createLogger({ level: 'silent' });
  let upstream: Awaited<ReturnType<typeof startBearerUpstream>>;
  let oauth: MockOAuth;
  let redis: Redis;
  let gatewayRedis: Redis;
  let config: Config;
  let worker: RunningWorker | undefined;
  let gateway: RunningServer | undefined;
  let clientKey: string;
  let apiKeyId: number;

  before(async () => {
    await resetDatabase();
    upstream = await startBearerUpstream();
    oauth = await startMockOAuth();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'oauth-gw-test');
    gatewayRedis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'oauth-gw-gateway');
    await Promise.all([waitForRedis(redis), waitForRedis(gatewayRedis)]);
    await redis.flushdb();
    const masterId = await seedMaster('oauth-gw');
    clientKey = (await seedKey(masterId, `ezk_oauth-gw-client-key-${'0'.repeat(24)}`)).key;
    const group = await seedGroup({ name: 'claude-sub', type: 'claude-code', base_url: upstream.url, models: [MODEL], keys: [STALE] });
    apiKeyId = group.apiKeyIds[0]!;
    // The key's refresh token; its access token "expires" in a week, so only the 401 triggers a refresh.
    const sealed = new SecretBox(TEST_SECRET).seal('rt-claude-1', refreshTokenAad(apiKeyId));
    await testEnv()
      .knex('api_keys')
      .where({ id: apiKeyId })
      .update({ refresh_token_ciphertext: sealed.ciphertext, refresh_token_nonce: sealed.nonce, access_token_expires_at: new Date(Date.now() + 7 * 86_400_000) });
    await publish(redis);

    config = loadConfig({
      env: { EZ_ENV: 'test', EZ_REDIS_URL: testEnv().redisUrl, EZ_QUEUE_PREFIX: prefix, EZ_SYNC_INTERVAL_MS: '200', EZ_LOG_FLUSH_MS: '50', ...mockOAuthEnv(oauth) },
      cwd: tmpdir(),
    });
    worker = await startWorker({ config, secrets: { master: TEST_SECRET }, knex: testEnv().knex, logger, queueNames: ['token-refresh', 'sync'] });
    gateway = await startGateway({ config, secrets: { master: TEST_SECRET }, redis: gatewayRedis, logger, port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await gateway?.close();
    await worker?.close();
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs', 'provider-events', 'sync', 'token-refresh']);
    for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await upstream?.close();
    await oauth?.close();
    await closeRedis(gatewayRedis);
    await closeRedis(redis);
  });

  const ask = async (): Promise<number> => {
    const res = await fetch(`${gateway!.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': clientKey, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
      signal: AbortSignal.timeout(5_000),
    });
    await res.text();
    return res.status;
  };

  it('a 401 enqueues a refresh (no ban); after the worker refreshes, the gateway sends the new token within a second', async () => {
    oauth.script = [{ status: 200, body: { access_token: FRESH, refresh_token: 'rt-claude-2', expires_in: 28_800 } }];

    // 1. The stale token is refused upstream; with no other key the client gets the gateway's 502.
    expect(await ask()).to.equal(502);
    expect(upstream.seen.map((s) => s.bearer)).to.deep.equal([STALE]);

    // 2. The worker refreshes (one token-endpoint call) — poll the row, bounded.
    let refreshedAt: number | undefined;
    for (let i = 0; i < 200 && refreshedAt === undefined; i++) {
      const row = (await testEnv().knex('api_keys').where({ id: apiKeyId }).first('last_refresh_at')) as { last_refresh_at: Date | null };
      if (row.last_refresh_at) refreshedAt = Date.now();
      else await sleep(25);
    }
    expect(refreshedAt, 'the refresh was committed within 5 s of the 401').to.be.a('number');
    expect(oauth.requests).to.have.length(1);
    expect(oauth.requests[0]!.fields).to.include({ grant_type: 'refresh_token', refresh_token: 'rt-claude-1' });

    // 3. Within a second the gateway uses the new token.
    let servedAfterMs: number | undefined;
    const deadline = refreshedAt! + 3_000;
    while (servedAfterMs === undefined && Date.now() < deadline) {
      if ((await ask()) === 200) servedAfterMs = Date.now() - refreshedAt!;
      else await sleep(20);
    }
    expect(servedAfterMs, 'served with the new token').to.be.a('number');
    expect(servedAfterMs!, `the new token was in use ${servedAfterMs} ms after the refresh`).to.be.below(1_000);
    console.log(`      new access token in use ${servedAfterMs} ms after the refresh committed`);
    expect(upstream.seen.at(-1)!.bearer).to.equal(FRESH);

    // 4. The key was never banned; the refresh is audited with its reason.
    const row = (await testEnv().knex('api_keys').where({ id: apiKeyId }).first('status', 'ban_reason')) as { status: string; ban_reason: string | null };
    expect(row).to.deep.equal({ status: 'active', ban_reason: null });
    const actions = (await testEnv().knex('audit_events').where({ object_type: 'api_key', object_id: String(apiKeyId) }).select('action', 'metadata')) as Array<{
      action: string;
      metadata: Record<string, unknown>;
    }>;
    expect(actions.map((a) => a.action)).to.deep.equal(['api_key.oauth_refresh']);
    expect(actions[0]!.metadata).to.include({ reason: 'unauthorized' });
    expect(oauth.requests, 'still one token-endpoint call').to.have.length(1);
  });
});
