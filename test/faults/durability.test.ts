import { expect } from 'chai';
import { QueueEvents } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues } from '../../jobs/queues.js';
import { loggedRequestIds, redisConnection, runLoad, startCluster, type Cluster } from './support/cluster.js';

/**
 * DESIGN §9 invariant 4 at the scale: a proxied request yields exactly one log row even
 * when the worker is SIGKILLed mid-batch. 20,000 requests go through two gateway processes
 * (small, frequent log batches); the worker is killed five times while they run — each time just
 * after it committed a batch, so other batches are mid-transaction or committed but not yet
 * acknowledged — and started again at once. Afterwards: rows = distinct request ids = requests the
 * gateways answered, and the set of logged ids is exactly the set of answered ids.
 */
const REQUESTS = 20_000;
const KILLS = 5;
const CONCURRENCY = 16; // per gateway

describe('faults: worker SIGKILL mid-batch during a 20,000-request run (invariant 4)', function () {
  this.timeout(600_000);
  let cluster: Cluster;

  before(async function () {
    cluster = await startCluster({ gatewayEnv: { EZ_LOG_BATCH_SIZE: '50', EZ_LOG_FLUSH_MS: '100' } });
  });
  after(async () => {
    await cluster?.close();
  });

  it(`${REQUESTS} requests, ${KILLS} worker SIGKILLs: rows = distinct request ids = requests answered`, async () => {
    const tenant = await cluster.seedTenant('durability');
    await cluster.waitForGateways();
    // A few ms of upstream latency pace the run so that every kill lands while it goes on.
    cluster.mock.faults.push(...Array.from({ length: REQUESTS }, () => ({ kind: 'delay' as const, ms: 15 })));

    const events = new QueueEvents('logs', { connection: { ...redisConnection(cluster.redis.url), maxRetriesPerRequest: null }, prefix: cluster.queuePrefix });
    const stalled = new Set<string>();
    events.on('stalled', ({ jobId }) => stalled.add(jobId));
    await events.waitUntilReady();

    const prefix = `dur-${Date.now().toString(36)}`;
    const progress = { sent: 0, answered: 0 };
    const started = Date.now();
    const load = runLoad({ gateways: cluster.gatewayUrls(), key: tenant.key, model: cluster.model, total: REQUESTS, concurrency: CONCURRENCY, idPrefix: prefix, progress });
    let loadDone = false;
    void load.finally(() => (loadDone = true));

    // Kill k once k/(KILLS+1) of the run is answered and the current worker has committed a batch.
    const kills: string[] = [];
    for (let k = 1; k <= KILLS; k++) {
      const rowsAtStart = await cluster.logRows();
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && !loadDone && (progress.answered < (k * REQUESTS) / (KILLS + 1) || (await cluster.logRows()) <= rowsAtStart)) {
        expect(cluster.worker.alive(), `worker exited on its own:\n${cluster.worker.current().output().slice(-2000)}`).to.equal(true);
        await sleep(20);
      }
      expect(loadDone, `the run ended before kill ${k} (${progress.answered} answered)`).to.equal(false);
      const rows = await cluster.logRows();
      expect(rows, `request_logs grew while worker ${k} ran`).to.be.above(rowsAtStart);
      await cluster.worker.kill('SIGKILL');
      kills.push(`#${k} at ${progress.answered} answered / ${rows} rows`);
      await cluster.worker.start();
    }

    const result = await load;
    const runMs = Date.now() - started;
    expect(result.unanswered, 'requests the gateways never answered').to.deep.equal([]);
    expect(result.statuses).to.deep.equal({ 200: REQUESTS });

    // Recovery: the last worker takes the backlog and the killed workers' stalled jobs (bounded).
    const queues = createQueues({ url: cluster.redis.url, defaulted: false }, cluster.queuePrefix, ['logs']);
    let rows = 0;
    let counts: Record<string, number> = {};
    const recoveryStarted = Date.now();
    try {
      while (Date.now() - recoveryStarted < 120_000) {
        counts = await queues.get('logs').getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        rows = await cluster.logRows();
        const pending = (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
        if (rows >= REQUESTS && pending === 0) break;
        await sleep(250);
      }
    } finally {
      await queues.close();
      await events.close();
    }
    console.log(`      run ${(runMs / 1000).toFixed(1)} s; kills ${kills.join(', ')}; ${stalled.size} stalled batches taken over; ${rows} rows after ${((Date.now() - recoveryStarted) / 1000).toFixed(1)} s of recovery`);

    expect(counts.failed ?? 0, 'failed logs jobs').to.equal(0);
    expect({ waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, prioritized: counts.prioritized ?? 0 }, 'logs jobs never completed (retrying)').to.deep.equal({
      waiting: 0,
      active: 0,
      delayed: 0,
      prioritized: 0,
    });
    for (const gateway of cluster.gatewayUrls()) {
      const metrics = await (await fetch(`${gateway}/metrics`)).text();
      const depth = Number(/^ez_gateway_log_buffer_depth(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? NaN);
      expect(depth, `${gateway}: records still in the log buffer`).to.equal(0);
    }
    const logged = await loggedRequestIds(cluster.knex, prefix);
    expect({ rows: logged.total, distinct: logged.distinct.size }).to.deep.equal({ rows: REQUESTS, distinct: REQUESTS });
    const missing = [...result.answered.keys()].filter((id) => !logged.distinct.has(id));
    expect(missing.slice(0, 10), `${missing.length} answered requests have no log row`).to.deep.equal([]);
    const { rows: usage } = await cluster.knex.raw<{ rows: Array<{ n: number }> }>('select coalesce(sum(request_count), 0)::bigint as n from usage_hourly');
    expect(Number(usage[0]!.n), 'usage_hourly counts every request once').to.equal(REQUESTS);
    expect(stalled.size, 'the kills left batches in flight that the next worker took over').to.be.at.least(1);
    expect(cluster.worker.alive(), 'the last worker is still running').to.equal(true);
  });
});
