import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeSecret } from '../../src/domain/client-keys.js';
import { applyOps } from '../../src/domain/sync/redis-apply.js';
import { rebuildIfRedisWasEmptied } from '../../src/domain/sync/sync.service.js';
import { write, type WriteContext } from '../../src/domain/write-context.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { CONFIG_REFRESH_CHANNEL, RedisKeys, type BindingSnapshot, type ProviderSnapshot } from '../../src/lib/redis-layout.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { dumpSnapshot, syncDeps, syncNow, TEST_SECRET } from '../support/sync.js';

const ctx: WriteContext = { actor: { type: 'admin', id: 'test' }, requestId: 'req-sync-test' };
const digester = new KeyDigester(TEST_SECRET);
const box = new SecretBox(TEST_SECRET);
const noNudge = { knex: () => testEnv().knex, nudge: async () => {} };
const deps = () => ({ knex: noNudge.knex(), nudge: noNudge.nudge });

async function createMaster(name: string, extra: Record<string, unknown> = {}): Promise<number> {
  return write(deps(), ctx, async (unit) => {
    const secret = describeSecret(`ezm_${name}-secret-value-0000000000`, digester);
    const [row] = await unit
      .trx('masters')
      .insert({ name, key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4, ...extra })
      .returning<Array<{ id: number }>>('id');
    await unit.sync({ resource: 'master', id: row!.id, action: 'upsert' });
    return row!.id;
  });
}

async function createKey(masterId: number, plaintext: string): Promise<{ id: number; digest: string }> {
  return write(deps(), ctx, async (unit) => {
    const secret = describeSecret(plaintext, digester);
    const [row] = await unit
      .trx('keys')
      .insert({ master_id: masterId, key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4, issued_by: 'admin', scopes: ['chat:*'] })
      .returning<Array<{ id: number }>>('id');
    await unit.sync({ resource: 'key', id: row!.id, digest: secret.digest, action: 'upsert' });
    return { id: row!.id, digest: secret.digest };
  });
}

async function createRouting(): Promise<{ groupId: number; apiKeyId: number }> {
  return write(deps(), ctx, async (unit) => {
    const [group] = await unit
      .trx('provider_groups')
      .insert({ name: 'openai-main', type: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['gpt-4o', 'gpt-4o-mini', 'moonshot/kimi2'], route_group: 'default' })
      .returning<Array<{ id: number }>>('id');
    const { rows } = await unit.trx.raw<{ rows: Array<{ id: number }> }>(`select nextval('api_keys_id_seq') as id`);
    const apiKeyId = Number(rows[0]!.id);
    const sealed = box.seal('sk-upstream-secret-1234567890', SecretBox.aad('api_keys', apiKeyId, 'secret'));
    await unit.trx('api_keys').insert({ id: apiKeyId, group_id: group!.id, secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion });
    await unit.trx('bindings').insert({
      namespace: 'default',
      public_model: 'kimi',
      candidates: JSON.stringify([
        { group_id: group!.id, selector_type: 'normalize_exact', selector_value: 'KIMI2' },
        { group_id: group!.id, selector_type: 'regex', selector_value: 'gpt-4o.*' },
      ]),
    });
    await unit.trx('models').insert({ name: 'kimi', kind: 'chat', price_input: 1.5, price_output: 3 });
    await unit.sync({ resource: 'routing', action: 'upsert' });
    return { groupId: group!.id, apiKeyId };
  });
}

describe('sync: outbox to Redis', function () {
  this.timeout(60_000);
  let redis: Redis;

  before(async () => {
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'producer', 'sync-test');
    await waitForRedis(redis);
  });
  after(() => closeRedis(redis));
  beforeEach(async () => {
    await resetDatabase();
    await redis.flushdb();
  });

  it('an acknowledged master and child key write reach Redis, and a deleted key leaves it', async () => {
    const masterId = await createMaster('acme', { global_qps: 7, namespaces: ['default', 'team'] });
    const key = await createKey(masterId, 'ezk_acme-child-key-value-000000000');
    const result = await syncNow(redis);
    expect(result.applied).to.equal(2);
    expect(await redis.hgetall(RedisKeys.master(masterId))).to.include({ name: 'acme', status: 'active', epoch: '0', global_qps: '7', namespaces: '["default","team"]' });
    expect(await redis.hgetall(RedisKeys.token(key.digest))).to.include({ master_id: String(masterId), status: 'active', scopes: '["chat:*"]' });
    expect(Number(await redis.get(RedisKeys.configVersion))).to.equal(result.versions[0]);

    await write(deps(), ctx, async (unit) => {
      await unit.trx('keys').where('id', key.id).delete();
      await unit.sync({ resource: 'key', id: key.id, digest: key.digest, action: 'delete' });
    });
    await syncNow(redis);
    expect(await redis.exists(RedisKeys.token(key.digest))).to.equal(0);
    const outbox = await testEnv().knex('sync_outbox').select('status');
    expect(outbox.map((r: { status: string }) => r.status)).to.deep.equal(['done', 'done', 'done']);
  });

  it('publishes dp:config:refresh with the version and the changed key digest', async () => {
    const subscriber = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'subscriber', 'sync-test-sub');
    try {
      const received: Array<Record<string, unknown>> = [];
      await subscriber.subscribe(CONFIG_REFRESH_CHANNEL);
      const got = new Promise<void>((resolve) =>
        subscriber.on('message', (_channel, message: string) => {
          received.push(JSON.parse(message) as Record<string, unknown>);
          if (received.some((m) => m.resource === 'key')) resolve();
        }),
      );
      const masterId = await createMaster('pub');
      const key = await createKey(masterId, 'ezk_pub-child-key-value-0000000000');
      const { versions } = await syncNow(redis);
      await got;
      expect(received.find((m) => m.resource === 'key')).to.include({ active_key: key.digest, version: versions[0] });
      expect(received.find((m) => m.resource === 'master')?.master_ids).to.deep.equal([masterId]);
    } finally {
      await closeRedis(subscriber);
    }
  });

  it('resolves providers, bindings, implicit bindings and models so the gateway does no regex work', async () => {
    const { groupId, apiKeyId } = await createRouting();
    await syncNow(redis);
    const provider = JSON.parse((await redis.hget(RedisKeys.providers, String(apiKeyId)))!) as ProviderSnapshot;
    expect(provider).to.include({ name: `openai-main#${apiKeyId}`, type: 'openai', api_key: 'sk-upstream-secret-1234567890', group: 'default', status: 'active' });
    const binding = JSON.parse((await redis.hget(RedisKeys.bindings, 'default.kimi'))!) as BindingSnapshot;
    expect(binding.candidates[0]).to.include({ status: 'active', group_id: groupId });
    expect(binding.candidates[0]!.upstreams).to.deep.equal({ [String(apiKeyId)]: 'moonshot/kimi2' });
    // `gpt-4o.*` matches two models: marked, not guessed.
    expect(binding.candidates[1]).to.include({ status: 'config_error', error: 'config_error' });
    const implicit = JSON.parse((await redis.hget(RedisKeys.implicitBindings, 'default/gpt-4o-mini'))!) as BindingSnapshot;
    expect(implicit.candidates[0]!.upstreams).to.deep.equal({ [String(apiKeyId)]: 'gpt-4o-mini' });
    const models = await redis.hgetall(RedisKeys.models);
    expect(JSON.parse(models['default.kimi']!)).to.include({ name: 'kimi', cost_per_token: 1.5e-6 });
    const meta = await redis.hgetall(RedisKeys.modelsMeta);
    expect(meta.checksum).to.match(/^[0-9a-f]{64}$/);
    expect(await redis.hgetall(RedisKeys.features)).to.deep.equal({});
  });

  it('never lets an older version overwrite a newer one', async () => {
    expect(await applyOps(redis, 10, [{ t: 'replace', k: 'auth:master:1', f: { status: 'suspended' } }])).to.equal(true);
    expect(await applyOps(redis, 9, [{ t: 'replace', k: 'auth:master:1', f: { status: 'active' } }])).to.equal(false);
    expect(await applyOps(redis, 10, [{ t: 'replace', k: 'auth:master:1', f: { status: 'active' } }])).to.equal(false);
    expect(await redis.hget('auth:master:1', 'status')).to.equal('suspended');
    expect(await redis.get(RedisKeys.configVersion)).to.equal('10');
  });

  it('eight concurrent writers with randomly slow transactions: no row skipped, Redis never goes back', async () => {
    const masterId = await createMaster('contended');
    await syncNow(redis);
    const knex = testEnv().knex;
    let writing = true;
    const versions: number[] = [];
    const sampler = (async () => {
      while (writing) {
        versions.push(Number(await redis.get(RedisKeys.configVersion)));
        await sleep(2);
      }
    })();
    const appliers = Array.from({ length: 3 }, async () => {
      while (writing) {
        await syncNow(redis, { batchSize: 5 });
        await sleep(Math.random() * 10);
      }
    });
    const writers = Array.from({ length: 8 }, async (_, writer) => {
      for (let i = 0; i < 12; i++) {
        await write(deps(), ctx, async (unit) => {
          // The row lock orders the writers; the sleep makes commit order differ from start order.
          await unit.trx('masters').where('id', masterId).update({ global_qps: knex.raw('global_qps + 1'), name: `contended-${writer}-${i}` });
          await sleep(Math.random() * 15);
          await unit.sync({ resource: 'master', id: masterId, action: 'upsert' });
        });
      }
    });
    await Promise.all(writers);
    writing = false;
    await Promise.all([...appliers, sampler]);
    await syncNow(redis);

    const pending = await knex('sync_outbox').whereNot('status', 'done').count<{ count: string }>('* as count').first();
    expect(Number(pending!.count), 'no outbox row left behind').to.equal(0);
    expect(await knex('sync_outbox').count<{ count: string }>('* as count').first().then((r) => Number(r!.count))).to.equal(1 + 8 * 12);
    for (let i = 1; i < versions.length; i++) expect(versions[i]!, 'config:version never decreases').to.be.at.least(versions[i - 1]!);
    const row = (await knex('masters').where('id', masterId).first()) as { name: string; global_qps: number };
    expect(row.global_qps).to.equal(3 + 8 * 12);
    expect(await redis.hgetall(RedisKeys.master(masterId))).to.include({ name: row.name, global_qps: String(row.global_qps) });
  });

  it('FLUSHALL then a snapshot rebuild: Redis equals what PostgreSQL says, field for field', async () => {
    const a = await createMaster('alpha');
    const b = await createMaster('beta', { status: 'suspended', epoch: 3 });
    await createKey(a, 'ezk_alpha-1-child-key-value-0000000');
    await createKey(b, 'ezk_beta-1-child-key-value-00000000');
    const revoked = await createKey(a, 'ezk_alpha-2-child-key-value-0000000');
    await createRouting();
    await write(deps(), ctx, async (unit) => {
      await unit.trx('settings').insert({ key: 'features', value: JSON.stringify({ dp_claude_cross_upstream: 'true', my_flag: 'x' }) });
      await unit.sync({ resource: 'features', action: 'upsert' });
      await unit.trx('keys').where('id', revoked.id).delete();
      await unit.sync({ resource: 'key', id: revoked.id, digest: revoked.digest, action: 'delete' });
    });
    await syncNow(redis);
    const before = await dumpSnapshot(redis);
    expect(before[RedisKeys.features]).to.include({ dp_claude_cross_upstream: 'true', my_flag: 'x', log_request_body_enabled: 'false' });

    await redis.flushall();
    // A stale record that PostgreSQL no longer knows must not survive a rebuild either.
    await redis.hset(RedisKeys.token(revoked.digest), { status: 'active' });
    expect(await rebuildIfRedisWasEmptied(syncDeps(redis))).to.equal(true);
    expect(await rebuildIfRedisWasEmptied(syncDeps(redis)), 'queued once').to.equal(false);
    await syncNow(redis);
    const after = await dumpSnapshot(redis);

    const withoutVolatile = (dump: Record<string, Record<string, string>>) => {
      const copy = structuredClone(dump);
      delete copy[RedisKeys.modelsMeta]?.version;
      delete copy[RedisKeys.modelsMeta]?.updated_at;
      for (const field of Object.keys(copy[RedisKeys.implicitBindings] ?? {})) {
        const binding = JSON.parse(copy[RedisKeys.implicitBindings]![field]!) as BindingSnapshot;
        copy[RedisKeys.implicitBindings]![field] = JSON.stringify({ ...binding, updated_at: '' });
      }
      return copy;
    };
    expect(withoutVolatile(after)).to.deep.equal(withoutVolatile(before));
    expect(after[RedisKeys.token(revoked.digest)]).to.equal(undefined);
  });

  it('a failed apply keeps the rows pending with the error and a backoff, then applies once Redis answers', async () => {
    await createMaster('retry-me');
    const dead = createRedis({ url: 'redis://127.0.0.1:1/0', defaulted: false }, 'producer', 'dead');
    dead.on('error', () => {});
    try {
      await syncNow(dead).then(
        () => expect.fail('apply should fail while Redis is unreachable'),
        () => undefined,
      );
    } finally {
      dead.disconnect();
    }
    const row = (await testEnv().knex('sync_outbox').first()) as { status: string; attempts: number; last_error: string; next_attempt_at: Date };
    expect(row).to.include({ status: 'pending', attempts: 1 });
    expect(row.last_error).to.be.a('string').and.not.equal('');
    expect(row.next_attempt_at.getTime()).to.be.greaterThan(Date.now());
    await testEnv().knex('sync_outbox').update({ next_attempt_at: new Date() });
    expect((await syncNow(redis)).applied).to.equal(1);
  });

  it('a row that exhausts its attempts becomes failed and raises one deduplicated alert', async () => {
    await createMaster('doomed');
    const dead = createRedis({ url: 'redis://127.0.0.1:1/0', defaulted: false }, 'producer', 'dead');
    dead.on('error', () => {});
    try {
      for (let i = 0; i < 2; i++) {
        await testEnv().knex('sync_outbox').update({ next_attempt_at: new Date() });
        await syncNow(dead, { maxAttempts: 2 }).catch(() => undefined);
      }
    } finally {
      dead.disconnect();
    }
    expect(await testEnv().knex('sync_outbox').first()).to.include({ status: 'failed', attempts: 2 });
    const alerts = await testEnv().knex('alerts').where('fingerprint', 'sync_failed');
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ type: 'sync_failed', severity: 'critical', status: 'active' });
  });
});
