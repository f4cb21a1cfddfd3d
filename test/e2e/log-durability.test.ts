import { expect } from 'chai';
import { QueueEvents, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { createQueues } from '../../jobs/queues.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { publish, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { startGatewayProcess, waitForConfigVersion, type GatewayProcess } from '../support/gateway-process.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';
import { spawnEntry, type SpawnedProcess } from '../support/process.js';
import { TEST_SECRET } from '../support/sync.js';

/**
 * DESIGN §9 invariant 4: a proxied request yields exactly one log row, even when a worker is
 * killed mid-batch. Real processes: a gateway proxies REQUESTS requests to a mock upstream and
 * flushes its log buffer as small `logs` jobs; a worker process (EZ_WORKER_QUEUES=logs) persists
 * them and is SIGKILLed each time `request_logs` grows (so it dies with batches in flight: some
 * mid-transaction, some committed but not acknowledged), then restarted. BullMQ hands the
 * killed worker's jobs to its successor once their locks lapse (~30 s); replaying them must add
 * neither rows nor usage.
 */
const REQUESTS = 3_000;
const CONCURRENCY = 32;
const KILLS = 3;
const MODEL = 'gpt-4o-mini';

function connectionOptions(redisUrl: string): ConnectionOptions {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
}

describe('log durability across worker crashes (invariant 4)', function () {
  this.timeout(120_000);
  const prefix = `ez-durability-${randomUUID().slice(0, 8)}`;
  let mock: MockUpstream;
  let redis: Redis;
  let gateway: GatewayProcess | undefined;
  let events: QueueEvents | undefined;
  let dataDir: string;
  const workers: SpawnedProcess[] = [];

  before(async function () {
    this.timeout(60_000);
    await resetDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), 'ez-durability-'));
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'log-durability-test');
    await waitForRedis(redis);
    await redis.flushdb();
    await seedGroup({ name: 'oa', type: 'openai', base_url: `${mock.url}/v1`, models: [MODEL], keys: ['sk-upstream-durability-000000000'] });
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(workers.map((w) => w.stop('SIGKILL').catch(() => undefined)));
    await gateway?.stop('SIGTERM').catch(() => undefined);
    await events?.close();
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs']);
    for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await mock?.close();
    await closeRedis(redis);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const startWorkerProcess = (): SpawnedProcess => {
    const proc = spawnEntry('src/bin/worker.ts', [], {
      EZ_ENV: 'test',
      EZ_HOST: '127.0.0.1',
      EZ_DATA_DIR: dataDir,
      EZ_LOG_LEVEL: 'warn',
      EZ_WORKER_QUEUES: 'logs',
      // A killed worker's jobs come back within ~4 s instead of ~60 s (BullMQ lock + stalled check).
      EZ_WORKER_LOCK_DURATION_MS: '3000',
      EZ_WORKER_STALLED_INTERVAL_MS: '1000',
      EZ_PG_DSN: testEnv().pgUrl,
      EZ_REDIS_URL: testEnv().redisUrl,
      EZ_QUEUE_PREFIX: prefix,
      EZ_SECRET: TEST_SECRET,
    });
    workers.push(proc);
    return proc;
  };

  const logRows = async (): Promise<number> => Number((await testEnv().knex.raw<{ rows: Array<{ n: number }> }>('select count(*) as n from request_logs')).rows[0]!.n);

  it(`${REQUESTS} proxied requests leave exactly ${REQUESTS} log rows and usage after ${KILLS} SIGKILLs of the worker`, async () => {
    // The first worker starts before anything else: BullMQ runs the stalled-job check at most once
    // per 30 s per queue, counted from the first worker's start, and the killed workers' jobs come
    // back at the second check after their death (~60 s after this start at worst).
    let worker = startWorkerProcess();
    const masterId = await seedMaster('durability');
    const { key } = await seedKey(masterId, `ezk_durability-client-key-${'0'.repeat(20)}`);
    await publish(redis);
    const version = Number(await redis.get(RedisKeys.configVersion));
    // Small, frequent batches: many jobs in flight whenever the worker dies.
    gateway = await startGatewayProcess({ redisUrl: testEnv().redisUrl, queuePrefix: prefix, env: { EZ_LOG_BATCH_SIZE: '20', EZ_LOG_FLUSH_MS: '50' } });
    const gatewayOutput = gateway.proc.output;
    await waitForConfigVersion(gateway.url, version);
    events = new QueueEvents('logs', { connection: connectionOptions(testEnv().redisUrl), prefix });
    const stalled = new Set<string>();
    events.on('stalled', ({ jobId }) => stalled.add(jobId));
    await events.waitUntilReady();

    // 100 ms upstream latency at 32 connections paces the traffic over ~10 s, long enough for
    // every kill to land while the gateway is still producing batches.
    mock.faults.push(...Array.from({ length: REQUESTS }, () => ({ kind: 'delay' as const, ms: 100 })));
    const statuses = new Map<number, number>();
    const pool = new Pool(gateway.url, { connections: CONCURRENCY });
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    let sent = 0;
    const traffic = Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (sent < REQUESTS) {
          sent++;
          const res = await pool.request({
            path: '/v1/chat/completions',
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
            body,
            headersTimeout: 10_000,
            bodyTimeout: 10_000,
          });
          await res.body.text();
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        }
      }),
    ).finally(() => pool.close());

    // Kill the worker as soon as it has committed a batch (the count grew): its other concurrent
    // jobs are mid-flight, some committed but not yet acknowledged. Restart it at once.
    const killLog: string[] = [];
    for (let kill = 1; kill <= KILLS; kill++) {
      const before = await logRows();
      const deadline = Date.now() + 30_000;
      let now = before;
      while (now <= before && Date.now() < deadline && worker.child.exitCode === null) {
        await sleep(5);
        now = await logRows();
      }
      expect(worker.child.exitCode, `worker exited on its own:\n${worker.output().slice(-2000)}`).to.equal(null);
      expect(now, `request_logs grew while worker ${kill} ran; gateway:\n${gatewayOutput().slice(-2000)}`).to.be.above(before);
      worker.child.kill('SIGKILL');
      await worker.exited;
      killLog.push(`${before}→${now}`);
      worker = startWorkerProcess();
    }
    const rowsAtLastKill = await logRows();

    await traffic;
    expect(Object.fromEntries(statuses)).to.deep.equal({ 200: REQUESTS });

    // The last worker inherits everything: the backlog, and the killed workers' jobs once their
    // locks lapse and the stalled check moves them back to waiting. Bounded wait.
    const survivor = worker;
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs']);
    const started = Date.now();
    let rows = await logRows();
    let counts: Record<string, number> = {};
    try {
      while (Date.now() - started < 75_000) {
        counts = await queues.get('logs').getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        rows = await logRows();
        const pending = (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
        if (rows >= REQUESTS && pending === 0) break;
        expect(survivor.child.exitCode, `the last worker exited:\n${survivor.output().slice(-2000)}`).to.equal(null);
        await sleep(250);
      }
    } finally {
      await queues.close();
    }
    console.log(
      `      ${KILLS} SIGKILLs (request_logs count before→at each: ${killLog.join(', ')}; ${rowsAtLastKill} rows at the last); ` +
        `${stalled.size} batches handed to the next worker after a kill; ${rows} rows after ${((Date.now() - started) / 1000).toFixed(1)} s of recovery`,
    );
    // Rows the gateway never handed to the queue are lost rows too: name where they went.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    const bufferDepth = Number(/^ez_gateway_log_buffer_depth\{[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    expect(bufferDepth, 'records still in the gateway log buffer, never enqueued').to.equal(0);
    // A record the gateway refuses never reaches the queue: that is a lost row, named here.
    expect(gatewayOutput(), 'the gateway dropped request log records it built itself').to.not.include('dropping malformed request log records');
    expect(counts.failed ?? 0, `failed logs jobs:\n${survivor.output().slice(-2000)}`).to.equal(0);

    const knex = testEnv().knex;
    const { rows: totals } = await knex.raw<{ rows: Array<{ total: number; distinct_ids: number }> }>(
      'select count(*) as total, count(distinct request_id) as distinct_ids from request_logs',
    );
    expect(totals[0]).to.deep.equal({ total: REQUESTS, distinct_ids: REQUESTS });
    const { rows: usage } = await knex.raw<{ rows: Array<{ requests: number | null }> }>('select sum(request_count)::bigint as requests from usage_hourly');
    expect(Number(usage[0]!.requests), 'usage_hourly counts every request once').to.equal(REQUESTS);
    expect(stalled.size, 'the kills left batches for the next worker').to.be.at.least(1);
    expect(await survivor.stop('SIGTERM')).to.equal(0);
  });
});
