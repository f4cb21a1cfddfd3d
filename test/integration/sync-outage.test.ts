import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { startApi } from '../../src/api/server.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { loadConfig } from '../../src/lib/config.js';
import { freePort, startLocalRedis, type LocalService } from '../../src/lib/local-services.js';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { TEST_SECRET } from '../support/sync.js';

const ADMIN_TOKEN = 'ezadm_outage-test-admin-token-000000';

/**
 * Invariant 1 of DESIGN §9 with real parts: a worker and a producer on their own Redis, which is
 * stopped while admin writes keep being acknowledged, then started again on the same port and
 * data directory. Nothing is restarted by hand; the sweeper drains the backlog.
 */
describe('sync across a Redis outage', function () {
  this.timeout(90_000);
  let dir: string;
  let port: number;
  let redisServer: LocalService | undefined;
  let worker: RunningWorker | undefined;
  let queues: QueueSet | undefined;
  let reader: Redis | undefined;
  let closeApi: (() => Promise<void>) | undefined;

  before(async () => {
    await resetDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'ez-outage-'));
    port = await freePort();
    redisServer = await startLocalRedis({ port, dir });
  });
  after(async () => {
    await closeApi?.();
    await worker?.close();
    await queues?.close();
    if (reader) await closeRedis(reader);
    await redisServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('admin writes answer 2xx while Redis is down and reach it after it returns, with no restart', async () => {
    const redisUrl = `redis://127.0.0.1:${port}/0`;
    const config = loadConfig({
      env: {
        EZ_ENV: 'test',
        EZ_REDIS_URL: redisUrl,
        EZ_SYNC_INTERVAL_MS: '300',
        EZ_QUEUE_PREFIX: 'ez-outage',
        EZ_SECRET: TEST_SECRET,
        EZ_ADMIN_TOKEN: ADMIN_TOKEN,
        EZ_LOG_LEVEL: 'silent',
      },
      cwd: dir,
    });
    const logger = createLogger({ level: 'silent' });
    worker = await startWorker({ config, secrets: { master: TEST_SECRET }, knex: testEnv().knex, logger, queueNames: ['sync'] });
    queues = createQueues(config.redis, config.queuePrefix);
    reader = createRedis(config.redis, 'worker', 'outage-reader');
    reader.on('error', () => {});
    const producer = createRedis(config.redis, 'producer', 'outage-api');
    producer.on('error', () => {});
    const api = await startApi({
      config,
      secrets: { master: TEST_SECRET, adminToken: ADMIN_TOKEN, internalToken: 'ezint_outage-0000000000000000', generated: [] },
      knex: testEnv().knex,
      redis: producer,
      queues,
      logger,
      port: 0,
      host: '127.0.0.1',
    });
    closeApi = async () => {
      await api.close();
      await closeRedis(producer);
    };
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${api.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const createMaster = async (name: string): Promise<number> => {
      const res = await admin('POST', '/admin/masters', { name });
      expect(res.status, `POST /admin/masters ${name}`).to.equal(201);
      return ((await res.json()) as { id: number }).id;
    };
    const status = async () => (await (await admin('GET', '/admin/sync/status')).json()) as { pending: number; in_sync: boolean; redis_version: number | null };
    const untilDrained = async (ids: number[], timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const present = await Promise.all(ids.map((id) => reader!.exists(RedisKeys.master(id)).catch(() => 0)));
        if (present.every((p) => p === 1)) return;
        if (Date.now() > deadline) throw new Error(`masters ${ids.join(',')} did not all reach Redis within ${timeoutMs} ms`);
        await sleep(100);
      }
    };

    const first = await createMaster('before-outage');
    await untilDrained([first], 10_000);
    await sleep(1_200); // let AOF (fsync everysec) hold the scheduler before the stop

    await redisServer!.stop();
    const duringOutage: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 5; i++) duringOutage.push(await createMaster(`during-outage-${i}`));
    expect(Date.now() - started, 'writes stay fast while Redis is down').to.be.below(10_000);
    const backlog = await status();
    expect(backlog).to.include({ pending: 5, in_sync: false, redis_version: null });

    redisServer = await startLocalRedis({ port, dir });
    await untilDrained(duringOutage, 30_000);
    const deadline = Date.now() + 10_000;
    let final = await status();
    while (!final.in_sync && Date.now() < deadline) {
      await sleep(100);
      final = await status();
    }
    expect(final, 'the backlog drains to zero').to.include({ pending: 0, in_sync: true });
  });
});
