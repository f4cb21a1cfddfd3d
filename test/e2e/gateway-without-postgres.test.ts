import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createQueues } from '../../jobs/queues.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { publish, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { chatOnce, environOf, startGatewayProcess, tcpSocketsOf, waitForConfigVersion, type GatewayProcess } from '../support/gateway-process.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';

/**
 * DESIGN §9 invariant 2: the gateway serves from Redis alone. The real gateway process is started
 * with no PostgreSQL setting at all, serves traffic, and holds no connection to PostgreSQL.
 */
describe('a gateway process without PostgreSQL', function () {
  this.timeout(90_000);
  const MODEL = 'gpt-4o-mini';
  const prefix = `ez-nopg-${randomUUID().slice(0, 8)}`;
  let mock: MockUpstream;
  let redis: Redis;
  let gateway: GatewayProcess | undefined;
  let clientKey: string;

  const portOf = (url: string, fallback: number) => Number(new URL(url).port || fallback);

  before(async function () {
    this.timeout(60_000);
    await resetDatabase();
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'nopg-test');
    await waitForRedis(redis);
    await redis.flushdb();
    const masterId = await seedMaster('nopg');
    clientKey = (await seedKey(masterId, `ezk_nopg-client-key-${'0'.repeat(24)}`)).key;
    await seedGroup({ name: 'oa', type: 'openai', base_url: `${mock.url}/v1`, models: [MODEL], keys: ['sk-upstream-nopg-000000000000'] });
    await publish(redis);
    // No EZ_PG_DSN (nor any PG* variable): startGatewayProcess passes only the variables it names
    // plus PATH and HOME, never the test runner's environment.
    gateway = await startGatewayProcess({ redisUrl: testEnv().redisUrl, queuePrefix: prefix });
    await waitForConfigVersion(gateway.url, Number(await redis.get(RedisKeys.configVersion)));
  });

  after(async function () {
    this.timeout(30_000);
    const code = await gateway?.stop('SIGTERM').catch((err: unknown) => (err as Error).message);
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs', 'provider-events']);
    for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await mock?.close();
    await closeRedis(redis);
    expect(code, `gateway exit code after SIGTERM:\n${gateway?.proc.output().slice(-2000)}`).to.equal(0);
  });

  it('was started with no database setting in its environment', async () => {
    const pid = gateway!.proc.child.pid!;
    const env = await environOf(pid);
    const databaseVars = Object.keys(env).filter((name) => /^(EZ_PG_|EZ_TEST_PG|PG[A-Z]|DATABASE_URL)/.test(name));
    expect(databaseVars, 'database variables seen by the gateway process').to.deep.equal([]);
    expect(Object.values(env).some((value) => value.includes(testEnv().pgUrl)), 'the test DSN appears nowhere in its environment').to.equal(false);
    expect(env.EZ_REDIS_URL).to.equal(testEnv().redisUrl);
  });

  it('serves 50 proxied chat requests from Redis alone', async () => {
    mock.requests.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) statuses.push((await chatOnce(gateway!.url, clientKey, MODEL)).status);
    expect(statuses.filter((s) => s === 200).length, `statuses: ${JSON.stringify(statuses)}`).to.equal(50);
    expect(mock.requests.length, 'every request reached the upstream').to.equal(50);
  });

  it('holds no socket to PostgreSQL (and one to Redis, so the inspection sees its connections)', async function () {
    if (!existsSync('/proc/self/net/tcp')) this.skip();
    const pid = gateway!.proc.child.pid!;
    const pgPort = portOf(testEnv().pgUrl, 5432);
    const redisPort = portOf(testEnv().redisUrl, 6379);
    const sockets = await tcpSocketsOf(pid);
    const listing = sockets.map((s) => `${s.local.port}->${s.remote.port} (${s.state})`).join(', ');
    expect(
      sockets.filter((s) => s.remote.port === pgPort),
      `sockets of the gateway process to the PostgreSQL port ${pgPort}: [${listing}]`,
    ).to.deep.equal([]);
    expect(
      sockets.filter((s) => s.remote.port === redisPort && s.state === '01').length,
      `established sockets to the Redis port ${redisPort}: [${listing}]`,
    ).to.be.at.least(1);
  });
});
