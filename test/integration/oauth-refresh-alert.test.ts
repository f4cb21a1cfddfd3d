import { expect } from 'chai';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { createQueues } from '../../jobs/queues.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import type { TokenRefreshPayload } from '../../jobs/token-refresh/definition.js';
import { processTokenRefresh } from '../../jobs/token-refresh/processor.js';
import type { AlertRow } from '../../src/db/alerts.repository.js';
import { runAlertDetector } from '../../src/domain/alerts/detector.service.js';
import { createApiKey, createGroup, type ProvidersWrite } from '../../src/domain/providers.service.js';
import {
  planRefreshAlert,
  REFRESH_ALERT_AFTER_FAILURES,
  REFRESH_ALERT_EXPIRY_MS,
  refreshAlertFingerprint,
} from '../../src/domain/oauth/refresh-alert.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { mockOAuthEnv, startMockOAuth, type MockOAuth } from '../support/mock-oauth.js';
import { TEST_SECRET } from '../support/sync.js';

const logger = createLogger({ level: 'silent' });
const box = new SecretBox(TEST_SECRET);
const MIN = 60_000;
const HOUR = 3_600_000;
const job = (data: TokenRefreshPayload) => ({ id: 'test', data, attemptsMade: 0, opts: {}, timestamp: Date.now() }) as unknown as Job<unknown>;

describe('planRefreshAlert', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const at = (ms: number) => new Date(now.getTime() + ms);
  const cases: Array<[string, { failures: number; expiresAt: Date | null }, { severity: string; expiring: boolean } | null]> = [
    ['one failure, token valid for hours', { failures: 1, expiresAt: at(5 * HOUR) }, null],
    ['two failures, expiry unknown', { failures: 2, expiresAt: null }, null],
    ['three failures in a row', { failures: REFRESH_ALERT_AFTER_FAILURES, expiresAt: at(5 * HOUR) }, { severity: 'warning', expiring: false }],
    ['many failures, expiry unknown', { failures: 9, expiresAt: null }, { severity: 'warning', expiring: false }],
    ['first failure, 10 minutes left', { failures: 1, expiresAt: at(REFRESH_ALERT_EXPIRY_MS) }, { severity: 'critical', expiring: true }],
    ['first failure, 10 minutes and 1 s left', { failures: 1, expiresAt: at(REFRESH_ALERT_EXPIRY_MS + 1_000) }, null],
    ['first failure, token already expired', { failures: 1, expiresAt: at(-MIN) }, { severity: 'critical', expiring: true }],
    ['three failures and expiring', { failures: 3, expiresAt: at(MIN) }, { severity: 'critical', expiring: true }],
  ];
  for (const [name, state, expected] of cases) {
    it(name, () => {
      expect(planRefreshAlert(state, now)).to.deep.equal(expected);
    });
  }
});

describe('OAuth refresh alert on transient failures', function () {
  this.timeout(30_000);
  let mock: MockOAuth;
  let prefix: string;
  let config: Config;
  let ctx: ProcessorContext;
  let redis: Redis;
  let groupId: number;
  const writer = (): ProvidersWrite => ({ deps: { knex: testEnv().knex, nudge: async () => {} }, ctx: { actor: { type: 'admin', id: 'refresh-alert-test' } }, box });

  async function codexKey(expiresInMs: number, refresh = `rt-${randomUUID()}`): Promise<number> {
    const key = await createApiKey(writer(), {
      group_id: groupId,
      name: '',
      weight: 1,
      status: 'active',
      auto_ban: true,
      refresh_token: refresh,
      access_token_expires_at: new Date(Date.now() + expiresInMs).toISOString(),
    });
    return key.id;
  }

  const run = (id: number) => processTokenRefresh(job({ type: 'refresh', api_key_id: id, reason: 'unauthorized' }), ctx);
  /** One refresh that must fail retryably (the processor throws so BullMQ backs off). */
  const failOnce = async (id: number) => {
    let thrown: unknown;
    await run(id).catch((err: unknown) => (thrown = err));
    expect(thrown, 'a retryable failure throws').to.be.instanceOf(Error);
  };
  const alertsOf = async (id: number) => (await testEnv().knex('alerts').where({ fingerprint: refreshAlertFingerprint(id) }).orderBy('id')) as AlertRow[];
  const failureCount = async (id: number) => ((await testEnv().knex('api_keys').where({ id }).first('refresh_failure_count')) as { refresh_failure_count: number }).refresh_failure_count;

  before(async () => {
    mock = await startMockOAuth();
  });
  after(async () => {
    await mock.close();
  });

  beforeEach(async () => {
    await resetDatabase();
    mock.requests.length = 0;
    mock.script = [];
    mock.defaultDelayMs = 0;
    prefix = `ez-ra-${randomUUID().slice(0, 8)}`;
    config = {
      ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix, ...mockOAuthEnv(mock) }, cwd: tmpdir() }),
      redis: { url: testEnv().redisUrl, defaulted: false },
    };
    redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on('error', () => {});
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    await redis.flushdb();
    ctx = { config, knex: testEnv().knex, redis, secretBox: box, logger, now: () => new Date() };
    groupId = (await createGroup(writer(), { name: 'g-codex', type: 'codex', route_group: 'default', models: ['m'], status: 'active', base_url: null })).id;
  });

  afterEach(async () => {
    const queues = createQueues(config.redis, prefix, ['sync', 'token-refresh']);
    for (const queue of queues.list()) await queue.obliterate({ force: true });
    await queues.close();
    await redis.quit();
  });

  it('raises one warning after three failures in a row, folds later failures into it, and a successful refresh resolves it', async () => {
    const id = await codexKey(2 * HOUR, 'rt-SECRETVALUE-1');
    mock.script = [
      { status: 503, body: { error: 'temporarily_unavailable', error_description: 'rt-SECRETVALUE-1 upstream busy' } },
      { status: 502, body: { message: 'bad gateway' } },
      { status: 429, body: { error: 'rate_limited' } },
      { status: 500, body: { error: 'server_error' } },
      { status: 200, body: { access_token: 'fresh-access', refresh_token: 'fresh-refresh', expires_in: 36_000 } },
    ];

    await failOnce(id);
    await failOnce(id);
    expect(await alertsOf(id), 'two failures with hours left: silent').to.have.length(0);

    await failOnce(id);
    let alerts = await alertsOf(id);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ type: 'oauth_refresh', severity: 'warning', status: 'active', related_type: 'api_key', related_id: String(id), count: 1 });
    expect(alerts[0]!.metadata).to.include({ failures: 3, group_id: groupId, type: 'codex', expiring: false, error: 'token endpoint answered 429 (rate_limited)' });
    const created = await testEnv().knex('audit_events').where({ action: 'alert.create', object_id: String(alerts[0]!.id) });
    expect(created).to.have.length(1);

    await failOnce(id);
    alerts = await alertsOf(id);
    expect(alerts, 'the fourth failure is the same alert').to.have.length(1);
    expect(alerts[0]).to.include({ count: 2, status: 'active' });
    expect(alerts[0]!.metadata).to.include({ failures: 4 });
    expect(JSON.stringify(alerts)).to.not.include('SECRETVALUE');

    expect(await run(id)).to.include({ outcome: 'refreshed' });
    expect(await failureCount(id)).to.equal(0);
    alerts = await alertsOf(id);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ status: 'resolved', resolved_by: 'system:token-refresh' });
    expect(alerts[0]!.resolved_at).to.be.instanceOf(Date);
    const resolved = await testEnv().knex('audit_events').where({ action: 'alert.resolve', object_id: String(alerts[0]!.id) });
    expect(resolved).to.have.length(1);
    expect(resolved[0]).to.include({ actor_type: 'system', actor_id: 'token-refresh' });
    expect(mock.requests).to.have.length(5);
  });

  it('a single failure of a token within 10 minutes of expiry raises a critical alert at once', async () => {
    const id = await codexKey(5 * MIN);
    const far = await codexKey(5 * HOUR);
    mock.script = [
      { status: 503, body: { error: 'temporarily_unavailable' } },
      { status: 503, body: { error: 'temporarily_unavailable' } },
    ];
    await failOnce(id);
    await failOnce(far);
    const alerts = await alertsOf(id);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ type: 'oauth_refresh', severity: 'critical', status: 'active', count: 1 });
    expect(alerts[0]!.metadata).to.include({ failures: 1, expiring: true });
    expect(alerts[0]!.message).to.match(/expires at/);
    expect(await alertsOf(far), 'one failure with hours left stays silent').to.have.length(0);
  });

  it('an open warning escalates to critical when the token nears expiry, and the detector tick announces it', async () => {
    const id = await codexKey(3 * HOUR);
    mock.script = Array.from({ length: 4 }, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
    for (let i = 0; i < 3; i++) await failOnce(id);
    expect((await alertsOf(id))[0]).to.include({ severity: 'warning' });

    // The detector announces the worker's alert (no webhook subscribers here: only the row is marked).
    const tick = () => runAlertDetector({ knex: testEnv().knex, redis, now: () => new Date(), enqueue: async () => {} });
    await tick();
    expect((await alertsOf(id))[0]).to.include({ announced_severity: 'warning' });

    await testEnv().knex('api_keys').where({ id }).update({ access_token_expires_at: new Date(Date.now() + 2 * MIN) });
    await failOnce(id);
    const alerts = await alertsOf(id);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ severity: 'critical', count: 2 });
    const result = await tick();
    expect(result.escalated).to.equal(1);
    expect((await alertsOf(id))[0]).to.include({ announced_severity: 'critical' });
  });

  it('an unreachable token endpoint counts as a transient failure', async () => {
    // A port that was just free: connection refused.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    ctx = { ...ctx, config: { ...config, oauth: { ...config.oauth, types: { ...config.oauth.types, codex: { ...config.oauth.types.codex, tokenUrl: `http://127.0.0.1:${port}/codex` } } } } };

    const id = await codexKey(4 * HOUR);
    for (let i = 0; i < REFRESH_ALERT_AFTER_FAILURES; i++) await failOnce(id);
    const alerts = await alertsOf(id);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ severity: 'warning' });
    expect(String(alerts[0]!.metadata.error)).to.match(/unreachable/);
    expect(await failureCount(id)).to.equal(3);
  });

  it('a refused grant does not raise the transient alert; a success with nothing open resolves nothing', async () => {
    const ok = await codexKey(HOUR);
    expect(await run(ok)).to.include({ outcome: 'refreshed' });
    const dead = await codexKey(2 * MIN);
    mock.script = [{ status: 400, body: { error: 'invalid_grant' } }];
    await run(dead).catch(() => undefined);
    const alerts = (await testEnv().knex('alerts').select('type', 'fingerprint')) as Array<{ type: string; fingerprint: string }>;
    expect(alerts).to.deep.equal([{ type: 'oauth_refresh_failed', fingerprint: `oauth_refresh_failed:api_key:${dead}` }]);
    expect(await testEnv().knex('audit_events').where({ action: 'alert.resolve' })).to.have.length(0);
  });
});
