import { expect } from 'chai';
import { UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { providerEventJobId, providerEventsQueue, type ProviderEventPayload } from '../../jobs/provider-events/definition.js';
import { processProviderEvent } from '../../jobs/provider-events/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { createQueues } from '../../jobs/queues.js';
import { updateApiKeyById } from '../../src/domain/providers.service.js';
import { planApiKeyEvent, type KeyState } from '../../src/domain/provider-events.service.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

const logger = createLogger({ level: 'silent' });
const SECRET = 'p'.repeat(40);

interface KeyRow {
  status: string;
  ban_reason: string | null;
  ban_until: Date | null;
  refresh_error: string | null;
  updated_at: Date;
}

async function createKey(values: Record<string, unknown> = {}): Promise<number> {
  const knex = testEnv().knex;
  const [group] = (await knex('provider_groups')
    .insert({ name: `g-${randomUUID().slice(0, 8)}`, type: 'openai', base_url: 'https://api.example.com' })
    .returning('id')) as Array<{ id: number }>;
  const [key] = (await knex('api_keys')
    // Written an hour ago: the events below were observed after it.
    .insert({ group_id: group!.id, name: 'k', updated_at: new Date(Date.now() - 3_600_000), ...values })
    .returning('id')) as Array<{ id: number }>;
  return key!.id;
}

const keyRow = async (id: number) => (await testEnv().knex('api_keys').where({ id }).first()) as KeyRow;
const audits = async (id: number) =>
  (await testEnv().knex('audit_events').where({ object_type: 'api_key', object_id: String(id) }).orderBy('id')) as Array<{ action: string; actor_type: string; actor_id: string; metadata: Record<string, unknown> }>;
const routingRows = async () => (await testEnv().knex('sync_outbox').where({ resource: 'routing' }).orderBy('id')) as Array<{ id: number; action: string }>;

const job = (data: unknown) => ({ id: 'test', data, attemptsMade: 0, opts: {} }) as unknown as Job<unknown>;
const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

describe('provider-events queue', () => {
  let prefix: string;
  let config: Config;
  let ctx: ProcessorContext;

  beforeEach(async () => {
    await resetDatabase();
    prefix = `ez-test-${randomUUID().slice(0, 8)}`;
    config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis: { url: testEnv().redisUrl, defaulted: false } };
    const redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on('error', () => {});
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    ctx = { config, knex: testEnv().knex, redis, secretBox: new SecretBox(SECRET), logger, now: () => new Date() };
  });

  afterEach(async () => {
    const queues = createQueues(config.redis, prefix, ['sync', 'provider-events']);
    for (const queue of queues.list()) await queue.obliterate({ force: true });
    await queues.close();
    await ctx.redis.quit();
  });

  const run = (event: ProviderEventPayload) => processProviderEvent(job(event), ctx);

  it('auto_ban disables the key, records an audit event and one routing outbox row, and nudges sync', async () => {
    const id = await createKey();
    const until = iso(600_000);
    const result = await run({ type: 'auto_ban', api_key_id: id, reason: 'upstream 401: invalid key', until, status_code: 401, at: iso(-1_000) });
    expect(result).to.deep.equal({ applied: true, outcome: 'key auto-disabled' });

    const row = await keyRow(id);
    expect(row).to.include({ status: 'auto_disabled', ban_reason: 'upstream 401: invalid key' });
    expect(row.ban_until?.toISOString()).to.equal(until);
    const [audit, ...moreAudits] = await audits(id);
    expect(moreAudits).to.have.length(0);
    expect(audit).to.deep.include({ action: 'api_key.auto_ban', actor_type: 'system', actor_id: 'gateway' });
    expect(audit!.metadata).to.deep.include({ reason: 'upstream 401: invalid key', until, status_code: 401 });
    const outbox = await routingRows();
    expect(outbox).to.have.length(1);
    expect(outbox[0]).to.include({ action: 'upsert' });

    // The sync worker was nudged for that outbox row, as an admin write would.
    const queues = createQueues(config.redis, prefix, ['sync']);
    try {
      const nudge = await queues.get('sync').getJob(`outbox-${outbox[0]!.id}`);
      expect(nudge?.data).to.deep.equal({ outboxId: outbox[0]!.id, reason: 'write' });
    } finally {
      await queues.close();
    }
  });

  it('a second identical event changes nothing (no row, audit or outbox change)', async () => {
    const id = await createKey();
    const event: ProviderEventPayload = { type: 'auto_ban', api_key_id: id, reason: 'quota', until: null, status_code: 429, at: iso(-500) };
    await run(event);
    const before = await keyRow(id);
    const again = await run(event);
    expect(again).to.have.property('applied', false);
    expect(await keyRow(id)).to.deep.equal(before);
    expect(await audits(id)).to.have.length(1);
    expect(await routingRows()).to.have.length(1);
  });

  it('an event older than an admin re-enable is ignored', async () => {
    const id = await createKey();
    const observedAt = iso(-60_000);
    await run({ type: 'auto_ban', api_key_id: id, reason: 'upstream 500s', until: null, status_code: 500, at: iso(-120_000) });
    expect((await keyRow(id)).status).to.equal('auto_disabled');

    // The admin re-enables the key through the normal admin path.
    const w = { deps: { knex: testEnv().knex, nudge: async () => {} }, ctx: { actor: { type: 'admin' as const, id: 'root' } }, box: new SecretBox(SECRET) };
    await updateApiKeyById(w, id, { status: 'active' });
    const reenabled = await keyRow(id);
    expect(reenabled).to.include({ status: 'active', ban_reason: null, ban_until: null });

    // A gateway's report of a failure it saw before the re-enable arrives late.
    const late = await run({ type: 'auto_ban', api_key_id: id, reason: 'upstream 500s', until: null, status_code: 500, at: observedAt });
    expect(late).to.deep.equal({ applied: false, outcome: 'stale: the key changed after the event' });
    expect(await keyRow(id)).to.deep.equal(reenabled);

    // A failure observed after the re-enable still bans it.
    const fresh = await run({ type: 'auto_ban', api_key_id: id, reason: 'upstream 500s again', until: null, status_code: 500, at: iso(1_000) });
    expect(fresh).to.have.property('applied', true);
    expect((await keyRow(id)).status).to.equal('auto_disabled');
  });

  it('events apply in observation order, whatever order the worker sees them in', async () => {
    const id = await createKey();
    await run({ type: 'auto_ban', api_key_id: id, reason: 'r', until: null, status_code: 401, at: iso(-10_000) });
    // unban observed after the ban: lifts it.
    expect(await run({ type: 'unban', api_key_id: id, at: iso(-5_000) })).to.have.property('applied', true);
    expect(await keyRow(id)).to.include({ status: 'active', ban_reason: null, ban_until: null });
    // a ban observed before that unban, delivered late: ignored.
    expect(await run({ type: 'auto_ban', api_key_id: id, reason: 'old', until: null, status_code: 401, at: iso(-7_000) })).to.have.property('applied', false);
    expect((await keyRow(id)).status).to.equal('active');
    expect((await audits(id)).map((a) => a.action)).to.deep.equal(['api_key.auto_ban', 'api_key.unban']);
    expect(await routingRows()).to.have.length(2);
  });

  it('never auto-bans a key an admin disabled, or one with auto_ban off; ignores unknown keys', async () => {
    const manual = await createKey({ status: 'manual_disabled' });
    const optedOut = await createKey({ auto_ban: false });
    const ban = (id: number) => run({ type: 'auto_ban', api_key_id: id, reason: 'r', until: null, status_code: 401, at: iso(1_000) });
    expect(await ban(manual)).to.have.property('applied', false);
    expect(await ban(optedOut)).to.have.property('applied', false);
    expect(await ban(999_999)).to.deep.equal({ applied: false, outcome: 'unknown api key' });
    expect((await keyRow(manual)).status).to.equal('manual_disabled');
    expect((await keyRow(optedOut)).status).to.equal('active');
    expect(await routingRows()).to.have.length(0);
  });

  it('oauth_unauthorized records refresh_error without touching routing', async () => {
    const id = await createKey();
    const at = iso(1_000);
    expect(await run({ type: 'oauth_unauthorized', api_key_id: id, at })).to.have.property('applied', true);
    const row = await keyRow(id);
    expect(row.refresh_error).to.include('401');
    expect(row.status).to.equal('active');
    expect(await routingRows()).to.have.length(0);
    expect(await run({ type: 'oauth_unauthorized', api_key_id: id, at })).to.have.property('applied', false);
  });

  it('alert raises one deduplicated alert', async () => {
    const event: ProviderEventPayload = { type: 'alert', alert_type: 'provider_down', severity: 'critical', title: 'Upstream down', message: 'openai#7 failing', fingerprint: 'provider_down:7', related_type: 'api_key', related_id: '7', at: iso(0) };
    await run(event);
    await run(event);
    const alerts = (await testEnv().knex('alerts').select('*')) as Array<{ type: string; count: number; severity: string; metadata: Record<string, unknown> }>;
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ type: 'provider_down', severity: 'critical', count: 2 });
    expect(alerts[0]!.metadata).to.include({ source: 'gateway' });
  });

  it('the expiry sweep lifts auto-bans whose time is up, with one routing outbox row', async () => {
    const expired = await createKey({ status: 'auto_disabled', ban_reason: 'r', ban_until: new Date(Date.now() - 1_000) });
    const running = await createKey({ status: 'auto_disabled', ban_reason: 'r', ban_until: new Date(Date.now() + 600_000) });
    const indefinite = await createKey({ status: 'auto_disabled', ban_reason: 'r', ban_until: null });
    expect(await run({ type: 'ban_expiry_sweep' })).to.deep.equal({ lifted: [expired] });
    expect((await keyRow(expired)).status).to.equal('active');
    expect((await keyRow(running)).status).to.equal('auto_disabled');
    expect((await keyRow(indefinite)).status).to.equal('auto_disabled');
    expect(await routingRows()).to.have.length(1);
    expect(await run({ type: 'ban_expiry_sweep' })).to.deep.equal({ lifted: [] });
    expect(await routingRows()).to.have.length(1);
  });

  it('a malformed event fails permanently', async () => {
    let error: unknown;
    await processProviderEvent(job({ type: 'auto_ban', api_key_id: 'seven' }), ctx).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(UnrecoverableError);
    await processProviderEvent(job({ type: 'explode' }), ctx).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.include('Invalid provider-events payload');
    expect(providerEventsQueue.payload.safeParse({ type: 'unban', api_key_id: 1, at: 'yesterday' }).success).to.equal(false);
  });

  it('a repeated observation gets the same jobId', () => {
    const event: ProviderEventPayload = { type: 'unban', api_key_id: 3, at: '2026-11-22T10:00:00.000Z' };
    expect(providerEventJobId(event)).to.equal(providerEventJobId({ ...event })).and.not.to.include(':');
    expect(providerEventJobId(event)).not.to.equal(providerEventJobId({ ...event, at: '2026-11-22T10:00:00.001Z' }));
  });

  describe(planApiKeyEvent.name, () => {
    const now = new Date('2026-11-22T12:00:00Z');
    const state = (overrides: Partial<KeyState> = {}): KeyState => ({
      status: 'active',
      auto_ban: true,
      ban_reason: null,
      ban_until: null,
      refresh_error: null,
      updated_at: new Date('2026-11-22T11:00:00Z'),
      ...overrides,
    });
    const ban = (until: string | null, at = '2026-11-22T11:30:00Z') => ({ type: 'auto_ban' as const, api_key_id: 1, reason: 'r', until, status_code: 401, at });
    const cases: Array<[string, KeyState | undefined, Parameters<typeof planApiKeyEvent>[1], string]> = [
      ['bans an active key', state(), ban('2026-11-22T13:00:00Z'), 'ban'],
      ['ignores an unknown key', undefined, ban(null), 'skip'],
      ['ignores an event older than the last write', state(), ban(null, '2026-11-22T10:59:59Z'), 'skip'],
      ['ignores a ban that is already over', state(), ban('2026-11-22T11:59:00Z'), 'skip'],
      ['leaves admin-disabled keys alone', state({ status: 'disabled' }), ban(null), 'skip'],
      ['extends a running ban', state({ status: 'auto_disabled', ban_until: new Date('2026-11-22T12:30:00Z') }), ban('2026-11-22T13:00:00Z'), 'ban'],
      ['never shortens a running ban', state({ status: 'auto_disabled', ban_until: new Date('2026-11-22T13:30:00Z') }), ban('2026-11-22T13:00:00Z'), 'skip'],
      ['makes a timed ban indefinite', state({ status: 'auto_disabled', ban_until: new Date('2026-11-22T13:30:00Z') }), ban(null), 'ban'],
      ['an indefinite ban stays as it is', state({ status: 'auto_disabled' }), ban('2026-11-22T13:00:00Z'), 'skip'],
      ['unban lifts an auto-ban', state({ status: 'auto_disabled' }), { type: 'unban', api_key_id: 1, at: '2026-11-22T11:30:00Z' }, 'unban'],
      ['unban never re-enables an admin-disabled key', state({ status: 'manual_disabled' }), { type: 'unban', api_key_id: 1, at: '2026-11-22T11:30:00Z' }, 'skip'],
    ];
    for (const [name, current, event, kind] of cases) {
      it(name, () => expect(planApiKeyEvent(current, event, now).kind).to.equal(kind));
    }
  });
});
