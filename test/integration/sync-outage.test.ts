import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues, enqueue, type QueueSet } from '../../jobs/queues.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { describeSecret } from '../../src/domain/client-keys.js';
import { write, type WriteContext, type WriteDeps } from '../../src/domain/write-context.js';
import { loadConfig } from '../../src/lib/config.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { freePort, startLocalRedis, type LocalService } from '../../src/lib/local-services.js';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { TEST_SECRET } from '../support/sync.js';

/**
 * Invariant 1 of DESIGN §9 with real parts: a worker and a producer on their own Redis, which is
 * stopped while admin writes keep being acknowledged, then started again on the same port and
 * data directory. Nothing is restarted by hand; the sweeper drains the backlog.
 */
describe('sync across a Redis outage', function () {
  this.timeout(90_000);
  const ctx: WriteContext = { actor: { type: 'admin', id: 'outage-test' } };
  const digester = new KeyDigester(TEST_SECRET);
  let dir: string;
  let port: number;
  let redisServer: LocalService | undefined;
  let worker: RunningWorker | undefined;
  let queues: QueueSet | undefined;
  let reader: Redis | undefined;

  before(async () => {
    await resetDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'ez-outage-'));
    port = await freePort();
    redisServer = await startLocalRedis({ port, dir });
  });
  after(async () => {
    await worker?.close();
    await queues?.close();
    if (reader) await closeRedis(reader);
    await redisServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('acknowledged writes made while Redis is down reach it after it returns, with no restart', async () => {
    const redisUrl = `redis://127.0.0.1:${port}/0`;
    const config = loadConfig({
      env: { EZ_ENV: 'test', EZ_REDIS_URL: redisUrl, EZ_SYNC_INTERVAL_MS: '300', EZ_QUEUE_PREFIX: 'ez-outage', EZ_SECRET: TEST_SECRET },
      cwd: dir,
    });
    worker = await startWorker({ config, secrets: { master: TEST_SECRET }, knex: testEnv().knex, logger: createLogger({ level: 'silent' }), queueNames: ['sync'] });
    queues = createQueues(config.redis, config.queuePrefix, ['sync']);
    reader = createRedis(config.redis, 'worker', 'outage-reader');
    reader.on('error', () => {});
    const nudges = { ok: 0, failed: 0 };
    const writeDeps: WriteDeps = {
      knex: testEnv().knex,
      nudge: async (ids) => {
        await enqueue(queues!, 'sync', { outboxId: Math.max(...ids) }, { jobId: `outbox-${Math.max(...ids)}` });
        nudges.ok++;
      },
      onNudgeError: () => nudges.failed++,
    };
    const createMaster = (name: string) =>
      write(writeDeps, ctx, async (unit) => {
        const secret = describeSecret(`ezm_${name}-000000000000000000000`, digester);
        const [row] = await unit
          .trx('masters')
          .insert({ name, key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4 })
          .returning<Array<{ id: number }>>('id');
        await unit.sync({ resource: 'master', id: row!.id, action: 'upsert' });
        return row!.id;
      });
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
    expect(nudges.failed).to.equal(5);
    const pending = await testEnv().knex('sync_outbox').where('status', 'pending').count<{ count: string }>('* as count').first();
    expect(Number(pending!.count)).to.equal(5);

    redisServer = await startLocalRedis({ port, dir });
    await untilDrained(duringOutage, 30_000);
    const left = await testEnv().knex('sync_outbox').whereNot('status', 'done').count<{ count: string }>('* as count').first();
    expect(Number(left!.count), 'the backlog drains to zero').to.equal(0);
  });
});
