import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { TokenCache } from '../../src/gateway/auth/token-cache.js';
import { ConfigReplica } from '../../src/gateway/config/replica.js';
import { describeSecret } from '../../src/domain/client-keys.js';
import { write, type WriteContext } from '../../src/domain/write-context.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { syncNow, TEST_SECRET } from '../support/sync.js';

/** The gateway's view follows the control plane within a second (DESIGN §9 invariant 3). */
describe('gateway config replica', function () {
  this.timeout(30_000);
  const ctx: WriteContext = { actor: { type: 'admin', id: 'replica-test' } };
  const deps = () => ({ knex: testEnv().knex, nudge: async () => {} });
  const digester = new KeyDigester(TEST_SECRET);
  let redis: Redis;
  let subscriber: Redis;
  let writer: Redis;
  let replica: ConfigReplica;
  let tokens: TokenCache;

  const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 1_000) => {
    const started = Date.now();
    while (!(await check())) {
      if (Date.now() - started > timeoutMs) throw new Error(`${what} not seen within ${timeoutMs} ms`);
      await sleep(10);
    }
    return Date.now() - started;
  };

  beforeEach(async () => {
    await resetDatabase();
    writer = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'producer', 'replica-writer');
    await waitForRedis(writer);
    await writer.flushdb();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'replica');
    subscriber = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'subscriber', 'replica-sub');
    tokens = new TokenCache(redis);
    replica = new ConfigReplica(redis, subscriber, createLogger({ level: 'silent' }), { onKeyInvalidated: (d) => tokens.invalidate(d) });
    await replica.start();
  });
  afterEach(async () => {
    await replica.close();
    await Promise.all([closeRedis(redis), closeRedis(subscriber), closeRedis(writer)]);
  });

  const createMaster = (name: string) =>
    write(deps(), ctx, async (unit) => {
      const secret = describeSecret(`ezm_${name}-secret-0000000000000000`, digester);
      const [row] = await unit
        .trx('masters')
        .insert({ name, key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4, namespaces: ['default', 'team'] })
        .returning<Array<{ id: number }>>('id');
      await unit.sync({ resource: 'master', id: row!.id, action: 'upsert' });
      return row!.id;
    });

  it('sees a new master, a suspension and a key revocation within one second', async () => {
    const masterId = await createMaster('live');
    const plaintext = 'ezk_replica-child-key-000000000000';
    const key = describeSecret(plaintext, digester);
    const keyId = await write(deps(), ctx, async (unit) => {
      const [row] = await unit
        .trx('keys')
        .insert({ master_id: masterId, key_digest: key.digest, key_prefix: key.prefix, key_last4: key.last4, issued_by: 'admin' })
        .returning<Array<{ id: number }>>('id');
      await unit.sync({ resource: 'key', id: row!.id, digest: key.digest, action: 'upsert' });
      return row!.id;
    });
    await syncNow(writer);
    await until('the master', () => replica.snapshot.masters.get(masterId)?.status === 'active');
    expect(replica.snapshot.namespaces.has('team')).to.equal(true);
    expect((await tokens.get(key.digest))?.status).to.equal('active');

    await write(deps(), ctx, async (unit) => {
      await unit.trx('keys').where('id', keyId).update({ status: 'disabled' });
      await unit.sync({ resource: 'key', id: keyId, digest: key.digest, action: 'upsert' });
      await unit.trx('masters').where('id', masterId).update({ epoch: 5 });
      await unit.sync({ resource: 'master', id: masterId, action: 'upsert' });
    });
    await syncNow(writer);
    const ms = await until('the revocation', async () => (await tokens.get(key.digest))?.status === 'disabled' && replica.snapshot.masters.get(masterId)?.epoch === 5);
    expect(ms).to.be.below(1_000);
    expect(replica.snapshot.version).to.equal(Number(await writer.get(RedisKeys.configVersion)));
  });

  it('catches up through the version poll when a refresh message is missed', async () => {
    const masterId = await createMaster('silent');
    await syncNow(writer);
    await until('the master', () => replica.snapshot.masters.has(masterId));
    // Change Redis behind the replica's back: no message, only a version bump.
    await writer.hset(RedisKeys.master(masterId), 'status', 'suspended');
    await writer.incr(RedisKeys.configVersion);
    const ms = await until('the suspension', () => replica.snapshot.masters.get(masterId)?.status === 'suspended', 2_500);
    expect(ms).to.be.below(2_000);
  });

  it('reloads when Redis is emptied and caches unknown keys briefly', async () => {
    const masterId = await createMaster('flushed');
    await syncNow(writer);
    await until('the master', () => replica.snapshot.masters.has(masterId));
    expect(await tokens.get('0'.repeat(64))).to.equal(undefined);
    await writer.flushdb();
    await until('the emptied snapshot', () => replica.snapshot.masters.size === 0 && replica.snapshot.version === 0, 2_500);
  });
});
