import { expect } from 'chai';
import { Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { createQueues } from '../../jobs/queues.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { expiringJobId, tokenRefreshQueue, type TokenRefreshPayload } from '../../jobs/token-refresh/definition.js';
import { processTokenRefresh } from '../../jobs/token-refresh/processor.js';
import { createApiKey, createGroup, refreshTokenAad, secretAad, type ProvidersWrite } from '../../src/domain/providers.service.js';
import { OAUTH_CLIENT_DEFAULTS } from '../../src/domain/oauth/oauth-clients.js';
import { findDueRefreshes } from '../../src/domain/oauth/token-refresh.service.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { mockOAuthEnv, startMockOAuth, type MockOAuth } from '../support/mock-oauth.js';
import { syncNow, TEST_SECRET } from '../support/sync.js';

const logger = createLogger({ level: 'silent' });
const box = new SecretBox(TEST_SECRET);
const MIN = 60_000;
const HOUR = 3_600_000;

interface KeyRow {
  id: number;
  status: string;
  ban_reason: string | null;
  secret_ciphertext: Buffer | null;
  secret_nonce: Buffer | null;
  refresh_token_ciphertext: Buffer | null;
  refresh_token_nonce: Buffer | null;
  key_version: number;
  access_token_expires_at: Date | null;
  account_id: string | null;
  last_refresh_at: Date | null;
  refresh_error: string | null;
  refresh_failure_count: number;
}

const keyRow = async (id: number) => (await testEnv().knex('api_keys').where({ id }).first()) as KeyRow;
const openSecret = (row: KeyRow) => box.open({ ciphertext: row.secret_ciphertext!, nonce: row.secret_nonce!, keyVersion: row.key_version }, secretAad(row.id));
const openRefresh = (row: KeyRow) =>
  box.open({ ciphertext: row.refresh_token_ciphertext!, nonce: row.refresh_token_nonce!, keyVersion: row.key_version }, refreshTokenAad(row.id));
const job = (data: TokenRefreshPayload) => ({ id: 'test', data, attemptsMade: 0, opts: {}, timestamp: Date.now() }) as unknown as Job<unknown>;

describe('token-refresh queue', function () {
  this.timeout(30_000);
  let mock: MockOAuth;
  let prefix: string;
  let config: Config;
  let ctx: ProcessorContext;
  let redis: Redis;
  const writer = (): ProvidersWrite => ({ deps: { knex: testEnv().knex, nudge: async () => {} }, ctx: { actor: { type: 'admin', id: 'token-refresh-test' } }, box });
  const groups = new Map<string, number>();

  /** An OAuth key in a group of `type`, written through the admin service (refresh token + expiry). */
  async function oauthKey(type: string, options: { expiresInMs?: number | null; access?: string; refresh?: string | null; status?: 'active' | 'disabled' } = {}): Promise<number> {
    let groupId = groups.get(type);
    if (groupId === undefined) {
      groupId = (await createGroup(writer(), { name: `g-${type}`, type: type as never, route_group: 'default', models: ['m'], status: 'active', base_url: type === 'openai' ? 'https://api.example.com/v1' : null })).id;
      groups.set(type, groupId);
    }
    const expiresInMs = options.expiresInMs === undefined ? HOUR : options.expiresInMs;
    const key = await createApiKey(writer(), {
      group_id: groupId,
      name: '',
      weight: 1,
      status: options.status ?? 'active',
      auto_ban: true,
      ...(options.access !== undefined ? { api_key: options.access } : {}),
      ...(options.refresh !== null ? { refresh_token: options.refresh ?? `rt-old-${randomUUID()}` } : {}),
      ...(type !== 'openai' && expiresInMs !== null ? { access_token_expires_at: new Date(Date.now() + expiresInMs).toISOString() } : {}),
    });
    return key.id;
  }

  before(async () => {
    mock = await startMockOAuth();
  });
  after(async () => {
    await mock.close();
  });

  beforeEach(async () => {
    await resetDatabase();
    groups.clear();
    mock.requests.length = 0;
    mock.script = [];
    mock.defaultDelayMs = 0;
    prefix = `ez-tr-${randomUUID().slice(0, 8)}`;
    config = {
      ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix, ...mockOAuthEnv(mock) }, cwd: tmpdir() }),
      redis: { url: testEnv().redisUrl, defaulted: false },
    };
    redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on('error', () => {});
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    // resetDatabase restarts the apply versions: a Redis left at a higher config:version would refuse them.
    await redis.flushdb();
    ctx = { config, knex: testEnv().knex, redis, secretBox: box, logger, now: () => new Date() };
  });

  afterEach(async () => {
    const queues = createQueues(config.redis, prefix, ['sync', 'token-refresh']);
    for (const queue of queues.list()) await queue.obliterate({ force: true });
    await queues.close();
    await redis.quit();
  });

  const run = (data: TokenRefreshPayload) => processTokenRefresh(job(data), ctx);
  const refresh = (id: number, reason: 'expiring' | 'unauthorized' | 'admin' = 'expiring') => run({ type: 'refresh', api_key_id: id, reason });

  describe('sweep', () => {
    it('enqueues exactly the active OAuth keys inside their type\'s lead time, once per expiry', async () => {
      const due = [
        await oauthKey('codex', { expiresInMs: 23 * HOUR }),
        await oauthKey('codex', { expiresInMs: null }), // no access token yet
        await oauthKey('claude-code', { expiresInMs: 3 * HOUR }),
        await oauthKey('gemini-cli', { expiresInMs: 4 * MIN }),
        await oauthKey('antigravity', { expiresInMs: -MIN }), // already expired
      ];
      const notDue = [
        await oauthKey('codex', { expiresInMs: 25 * HOUR }),
        await oauthKey('claude-code', { expiresInMs: 5 * HOUR }),
        await oauthKey('gemini-cli', { expiresInMs: 10 * MIN }),
        await oauthKey('antigravity', { expiresInMs: 6 * MIN }),
        await oauthKey('codex', { expiresInMs: MIN, status: 'disabled' }),
        await oauthKey('codex', { expiresInMs: MIN, refresh: null, access: 'at-only-access' }), // no refresh token
        await oauthKey('openai', { refresh: null, access: 'sk-plain-0123456789abcdef' }),
      ];

      const found = await findDueRefreshes(testEnv().knex, config.oauth, new Date());
      expect(found.map((d) => d.apiKeyId).sort((a, b) => a - b)).to.deep.equal([...due].sort((a, b) => a - b));

      const first = await run({ type: 'sweep' });
      expect(first).to.deep.equal({ enqueued: due.length });
      // A second tick while the jobs wait adds nothing (job id per key and expiry).
      await run({ type: 'sweep' });
      const queue = new Queue(tokenRefreshQueue.name, { connection: redis, prefix });
      const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
      await queue.close();
      expect(jobs).to.have.length(due.length);
      const enqueued = jobs.map((j) => (j.data as { api_key_id: number }).api_key_id).sort((a, b) => a - b);
      expect(enqueued).to.deep.equal([...due].sort((a, b) => a - b));
      for (const j of jobs) {
        const id = (j.data as { api_key_id: number }).api_key_id;
        const row = await keyRow(id);
        expect(j.id).to.equal(expiringJobId(id, row.access_token_expires_at));
        expect(j.data).to.deep.equal({ type: 'refresh', api_key_id: id, reason: 'expiring' });
      }
      expect(notDue.some((id) => enqueued.includes(id))).to.equal(false);
      expect(mock.requests, 'the sweep itself calls no token endpoint').to.have.length(0);
    });

    it('honours configured lead times', async () => {
      const id = await oauthKey('codex', { expiresInMs: 2 * HOUR });
      expect(await findDueRefreshes(testEnv().knex, config.oauth, new Date())).to.have.length(1);
      const short = { ...config.oauth, types: { ...config.oauth.types, codex: { ...config.oauth.types.codex, leadMs: HOUR } } };
      expect(await findDueRefreshes(testEnv().knex, short, new Date())).to.deep.equal([]);
      expect(id).to.be.a('number');
    });

    it('renews a token that lives shorter than its lead time at half-life, not on every tick', async () => {
      const id = await oauthKey('codex', { expiresInMs: HOUR });
      // Refreshed 10 minutes ago for one hour: inside the 24 h lead, but not yet at half-life.
      await testEnv().knex('api_keys').where({ id }).update({ last_refresh_at: new Date(Date.now() - 10 * MIN), access_token_expires_at: new Date(Date.now() + 50 * MIN) });
      expect(await findDueRefreshes(testEnv().knex, config.oauth, new Date())).to.deep.equal([]);
      expect(await refresh(id)).to.include({ outcome: 'skipped' });
      // Past half-life it is due.
      await testEnv().knex('api_keys').where({ id }).update({ last_refresh_at: new Date(Date.now() - 40 * MIN), access_token_expires_at: new Date(Date.now() + 20 * MIN) });
      expect((await findDueRefreshes(testEnv().knex, config.oauth, new Date())).map((d) => d.apiKeyId)).to.deep.equal([id]);
      expect(mock.requests).to.have.length(0);
    });
  });

  describe('refresh', () => {
    it('stores the new tokens encrypted, rotates the refresh token, and the provider snapshot carries the new access token after sync', async () => {
      const id = await oauthKey('claude-code', { expiresInMs: HOUR, access: 'old-access-token-1', refresh: 'old-refresh-token-1' });
      await syncNow(redis);
      mock.script = [{ status: 200, body: { access_token: 'new-access-token-2', refresh_token: 'new-refresh-token-2', expires_in: 28_800, account: { uuid: 'acct-42' } } }];
      const started = Date.now();

      const result = await refresh(id);
      expect(result).to.include({ outcome: 'refreshed' });

      // The request: JSON for Claude Code, with the public client id and the old refresh token.
      expect(mock.requests).to.have.length(1);
      expect(mock.requests[0]!.path).to.equal('/claude-code');
      expect(mock.requests[0]!.contentType).to.match(/^application\/json/);
      expect(mock.requests[0]!.fields).to.deep.equal({ grant_type: 'refresh_token', refresh_token: 'old-refresh-token-1', client_id: OAUTH_CLIENT_DEFAULTS['claude-code'].clientId });

      const row = await keyRow(id);
      expect(row.secret_ciphertext!.includes(Buffer.from('new-access-token-2'))).to.equal(false);
      expect(row.refresh_token_ciphertext!.includes(Buffer.from('new-refresh-token-2'))).to.equal(false);
      expect(openSecret(row)).to.equal('new-access-token-2');
      expect(openRefresh(row)).to.equal('new-refresh-token-2');
      expect(row.access_token_expires_at!.getTime()).to.be.within(started + 28_800_000 - 1_000, Date.now() + 28_800_000 + 1_000);
      expect(row).to.include({ account_id: 'acct-42', refresh_error: null, refresh_failure_count: 0, status: 'active' });
      expect(row.last_refresh_at!.getTime()).to.be.at.least(started - 1_000);

      const audits = await testEnv().knex('audit_events').where({ action: 'api_key.oauth_refresh', object_id: String(id) });
      expect(audits).to.have.length(1);
      expect(JSON.stringify(audits)).to.not.match(/new-access|new-refresh|old-refresh/);

      await syncNow(redis);
      const snapshot = JSON.parse((await redis.hget(RedisKeys.providers, String(id)))!) as { api_key: string };
      expect(snapshot.api_key).to.equal('new-access-token-2');
    });

    it('keeps the refresh token when the endpoint does not rotate it, and sends Codex and Google their form fields', async () => {
      const codex = await oauthKey('codex', { expiresInMs: MIN, refresh: 'codex-refresh-1' });
      const gemini = await oauthKey('gemini-cli', { expiresInMs: MIN, refresh: 'gemini-refresh-1' });
      mock.script = [
        { status: 200, body: { access_token: 'codex-access-2', expires_in: 864_000 } },
        { status: 200, body: { access_token: 'ya29.gemini-access-2', expires_in: 3_599, token_type: 'Bearer' } },
      ];
      expect(await refresh(codex)).to.include({ outcome: 'refreshed' });
      expect(await refresh(gemini)).to.include({ outcome: 'refreshed' });

      expect(mock.requests[0]!.contentType).to.match(/^application\/x-www-form-urlencoded/);
      expect(mock.requests[0]!.fields).to.deep.equal({
        grant_type: 'refresh_token',
        refresh_token: 'codex-refresh-1',
        client_id: OAUTH_CLIENT_DEFAULTS.codex.clientId,
        scope: 'openid profile email',
      });
      expect(mock.requests[1]!.fields).to.deep.equal({
        grant_type: 'refresh_token',
        refresh_token: 'gemini-refresh-1',
        client_id: OAUTH_CLIENT_DEFAULTS['gemini-cli'].clientId,
        client_secret: 'test-gemini-cli-client-secret',
      });
      const codexRow = await keyRow(codex);
      expect(openSecret(codexRow)).to.equal('codex-access-2');
      expect(openRefresh(codexRow), 'not rotated: the old refresh token stays').to.equal('codex-refresh-1');
    });

    it('two refreshers racing on one expiring key make ONE token-endpoint call', async () => {
      const id = await oauthKey('codex', { expiresInMs: MIN });
      // The first call holds the row lock a while, so the second refresher surely waits for it.
      mock.defaultDelayMs = 300;
      const results = (await Promise.all([refresh(id), refresh(id)])) as Array<{ outcome: string; reason: string }>;
      expect(mock.requests).to.have.length(1);
      expect(results.map((r) => r.outcome).sort()).to.deep.equal(['refreshed', 'skipped']);
      expect(results.find((r) => r.outcome === 'skipped')!.reason).to.match(/already refreshed|not due/);
      // Also on-demand requests observed before the refresh are answered by it.
      const observedBefore = new Date(Date.now() - 5_000).toISOString();
      expect(await run({ type: 'refresh', api_key_id: id, reason: 'unauthorized', requested_at: observedBefore })).to.include({ outcome: 'skipped' });
      expect(mock.requests).to.have.length(1);
    });

    it('invalid_grant disables the key (oauth_refresh_failed) and raises exactly one alert, even when run twice', async () => {
      const id = await oauthKey('codex', { expiresInMs: MIN, access: 'codex-access-old', refresh: 'rt-revoked-SECRETVALUE' });
      mock.script = [{ status: 400, body: { error: 'invalid_grant', error_description: 'refresh token rt-revoked-SECRETVALUE was revoked' } }];

      let thrown: unknown;
      await refresh(id).catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(UnrecoverableError);
      await refresh(id, 'unauthorized').catch(() => undefined);

      expect(mock.requests, 'a disabled key is not refreshed again').to.have.length(1);
      const row = await keyRow(id);
      expect(row).to.include({ status: 'auto_disabled', ban_reason: 'oauth_refresh_failed', refresh_failure_count: 1 });
      expect(row.refresh_error).to.match(/invalid_grant/);
      expect(row.refresh_error).to.not.include('SECRETVALUE');
      const alerts = await testEnv().knex('alerts').select('*');
      expect(alerts).to.have.length(1);
      expect(alerts[0]).to.include({ type: 'oauth_refresh_failed', related_type: 'api_key', related_id: String(id), count: 1 });
      expect(JSON.stringify(alerts)).to.not.include('SECRETVALUE');
      expect(String(thrown)).to.not.include('SECRETVALUE');

      // The gateways stop routing to it.
      await syncNow(redis);
      const snapshot = JSON.parse((await redis.hget(RedisKeys.providers, String(id)))!) as { status: string };
      expect(snapshot.status).to.equal('auto_disabled');
    });

    it('a 401 without an OAuth error code is also final; a 429 is not', async () => {
      const dead = await oauthKey('claude-code', { expiresInMs: MIN });
      const limited = await oauthKey('claude-code', { expiresInMs: MIN });
      mock.script = [
        { status: 401, body: { message: 'nope' } },
        { status: 429, body: { error: 'rate_limited' } },
      ];
      await refresh(dead).catch(() => undefined);
      let thrown: unknown;
      await refresh(limited).catch((err: unknown) => (thrown = err));
      expect((await keyRow(dead)).status).to.equal('auto_disabled');
      expect(thrown).to.be.instanceOf(Error).and.not.instanceOf(UnrecoverableError);
      expect(await keyRow(limited)).to.include({ status: 'active', refresh_failure_count: 1, refresh_error: 'token endpoint answered 429 (rate_limited)' });
    });

    it('a Google type without its client secret configured fails without calling the endpoint or disabling the key', async () => {
      const id = await oauthKey('antigravity', { expiresInMs: MIN });
      ctx = { ...ctx, config: { ...config, oauth: { ...config.oauth, types: { ...config.oauth.types, antigravity: { ...config.oauth.types.antigravity, clientSecret: undefined } } } } };
      let thrown: unknown;
      await refresh(id).catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(UnrecoverableError);
      expect(mock.requests).to.have.length(0);
      expect(await keyRow(id)).to.include({ status: 'active', refresh_error: 'EZ_OAUTH_CLIENT_SECRET_ANTIGRAVITY is not configured' });
    });

    it('a 503 from the token endpoint is retried with backoff by the queue, then succeeds', async () => {
      const id = await oauthKey('codex', { expiresInMs: MIN, refresh: 'rt-503' });
      mock.script = [
        { status: 503, body: { error: 'temporarily_unavailable' } },
        { status: 200, body: { access_token: 'after-503', refresh_token: 'rt-after-503', expires_in: 3_600 } },
      ];
      expect(tokenRefreshQueue.defaultJobOptions).to.deep.include({ attempts: 6, backoff: { type: 'exponential', delay: 5_000 } });

      const connection = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: null });
      const events = new QueueEvents(tokenRefreshQueue.name, { connection: connection.duplicate(), prefix });
      const worker = new Worker(tokenRefreshQueue.name, (j) => processTokenRefresh(j, ctx), { connection, prefix });
      const failures: string[] = [];
      worker.on('failed', (_j, err) => failures.push(err.message));
      try {
        await events.waitUntilReady();
        const queue = new Queue(tokenRefreshQueue.name, { connection: redis, prefix, defaultJobOptions: tokenRefreshQueue.defaultJobOptions });
        // The queue's own backoff (exponential), with a short first delay so the test stays quick.
        const added = await queue.add('token-refresh', { type: 'refresh', api_key_id: id, reason: 'expiring' }, { backoff: { type: 'exponential', delay: 100 } });
        const result = (await added.waitUntilFinished(events, 15_000)) as { outcome: string };
        await queue.close();
        expect(result.outcome).to.equal('refreshed');
        expect(failures).to.have.length(1);
        expect(failures[0]).to.match(/503/);
      } finally {
        await worker.close();
        await events.close();
        await connection.quit();
      }
      expect(mock.requests).to.have.length(2);
      const row = await keyRow(id);
      expect(openSecret(row)).to.equal('after-503');
      expect(row).to.include({ refresh_error: null, refresh_failure_count: 0 });
    });
  });
});
