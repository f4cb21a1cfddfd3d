import { expect } from 'chai';
import { QueueEvents, type ConnectionOptions } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { QUEUE_NAMES } from '../../jobs/index.js';
import { createQueues, enqueue, JobPayloadError, type QueueSet } from '../../jobs/queues.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { ensureRequestLogPartitions, listRequestLogPartitions } from '../../src/db/request-log-partitions.repository.js';
import { loadConfig, type Config, type RedisSettings } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { testEnv } from '../support/hooks.js';

const DAY_MS = 86_400_000;
const utcDay = (offsetDays: number) => new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10);

/** QueueEvents owns its blocking connection, so it gets options rather than a shared client. */
function connectionOptions(redisUrl: string): ConnectionOptions {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
}

describe('startWorker', () => {
  let prefix: string;
  let config: Config;
  let redis: RedisSettings;
  const logger = createLogger({ level: 'silent' });
  const started: RunningWorker[] = [];
  let queueSet: QueueSet | undefined;
  let events: QueueEvents | undefined;

  const start = async (queueNames?: string[]) => {
    const worker = await startWorker({ config, secrets: { master: 'w'.repeat(40) }, knex: testEnv().knex, logger, queueNames });
    started.push(worker);
    return worker;
  };

  beforeEach(() => {
    // A unique queue prefix per test keeps jobs, schedulers and events apart.
    prefix = `ez-test-${randomUUID().slice(0, 8)}`;
    redis = { url: testEnv().redisUrl, defaulted: false };
    config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis };
  });

  afterEach(async () => {
    await events?.close();
    events = undefined;
    await Promise.all(started.splice(0).map((w) => w.close()));
    // Schedulers and their pending ticks outlive the workers: remove everything under the prefix.
    const cleanup = queueSet ?? createQueues(redis, prefix);
    for (const queue of cleanup.list()) await queue.obliterate({ force: true });
    await cleanup.close();
    queueSet = undefined;
  });

  const openQueues = async () => {
    queueSet = createQueues(redis, prefix, ['log-retention']);
    events = new QueueEvents('log-retention', { connection: connectionOptions(redis.url), prefix });
    await events.waitUntilReady();
    return { queues: queueSet, events };
  };

  it('refuses an unknown queue name, naming it and the valid queues', async () => {
    let error: unknown;
    await start(['log-retention', 'no-such-queue']).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.include('"no-such-queue"').and.to.include('log-retention');
  });

  it('reads its queues from EZ_WORKER_QUEUES when not told', async () => {
    config = { ...config, worker: { ...config.worker, queues: ['bogus'] } };
    let error: unknown;
    await start().catch((err: unknown) => (error = err));
    expect((error as Error).message).to.include('"bogus"');
  });

  it('consumes every catalogued queue by default', async () => {
    const sut = await start();
    expect(sut.queues).to.deep.equal(QUEUE_NAMES);
  });

  it('a log-retention job creates the partitions for today and the days ahead, and re-running changes nothing', async () => {
    await start(['log-retention']);
    const { queues, events } = await openQueues();

    const first = await enqueue(queues, 'log-retention', { daysAhead: 3 });
    const firstResult = (await first.waitUntilFinished(events, 15_000)) as { created: number; dropped: number };
    const days = (await listRequestLogPartitions(testEnv().knex)).map((p) => p.day);
    expect(days).to.include.members([utcDay(0), utcDay(1), utcDay(2), utcDay(3)]);
    expect(firstResult.created).to.be.within(0, 4);

    const second = await enqueue(queues, 'log-retention', { daysAhead: 3 });
    expect(await second.waitUntilFinished(events, 15_000)).to.deep.include({ created: 0, dropped: 0 });
    expect((await listRequestLogPartitions(testEnv().knex)).map((p) => p.day)).to.deep.equal(days);
  });

  it('drops partitions older than the retention window and keeps the rest', async () => {
    const knex = testEnv().knex;
    await ensureRequestLogPartitions(knex, { from: new Date(Date.now() - 40 * DAY_MS), days: 1 });
    await ensureRequestLogPartitions(knex, { from: new Date(Date.now() - 5 * DAY_MS), days: 1 });
    expect((await listRequestLogPartitions(knex)).map((p) => p.day)).to.include(utcDay(-40));
    await start(['log-retention']);
    const { queues, events } = await openQueues();

    const job = await enqueue(queues, 'log-retention', { retentionDays: 30, daysAhead: 0 });
    const result = (await job.waitUntilFinished(events, 15_000)) as { dropped: number; cutoff: string };
    const days = (await listRequestLogPartitions(knex)).map((p) => p.day);
    expect(result.dropped).to.be.at.least(1);
    expect(days).not.to.include(utcDay(-40));
    expect(days).to.include.members([utcDay(-5), utcDay(0)]);
    expect(result.cutoff).to.equal(`${utcDay(-30)}T00:00:00.000Z`);
  });

  it('fails a job with a malformed payload once, without retrying it', async () => {
    await start(['log-retention']);
    const { queues, events } = await openQueues();
    // Bypass the typed enqueue, as a stale producer or a hand-edited job would.
    const job = await queues.get('log-retention').add('log-retention', { daysAhead: -5 }, { attempts: 3 });
    let error: unknown;
    await job.waitUntilFinished(events, 15_000).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.include('Invalid log-retention payload');
    const failed = await queues.get('log-retention').getJob(job.id ?? '');
    expect(failed?.attemptsMade).to.equal(1);
    expect(await failed?.getState()).to.equal('failed');
  });

  it('enqueue validates the payload before adding a job', async () => {
    const { queues } = await openQueues();
    let error: unknown;
    await enqueue(queues, 'log-retention', { daysAhead: 1_000 }).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(JobPayloadError);
    expect(await queues.get('log-retention').getJobCounts('wait', 'delayed')).to.deep.equal({ wait: 0, delayed: 0 });
    // @ts-expect-error: an unknown field does not compile (and is refused at run time too).
    await enqueue(queues, 'log-retention', { retention: 3 }).catch(() => undefined);
  });

  it('N workers register each job scheduler exactly once', async () => {
    await Promise.all([start(['log-retention']), start(['log-retention'])]);
    await start(['log-retention']);
    const { queues } = await openQueues();
    const schedulers = await queues.get('log-retention').getJobSchedulers();
    expect(schedulers.map((s) => s.key)).to.deep.equal(['log-retention:hourly']);
    expect(schedulers[0]).to.include({ pattern: '5 * * * *', tz: 'UTC' });
    // One scheduler, one pending tick.
    expect(await queues.get('log-retention').getDelayedCount()).to.equal(1);
  });

  it('close() resolves, is idempotent and leaves no worker connected', async () => {
    const a = await start(['log-retention']);
    const b = await start(['log-retention']);
    const { queues } = await openQueues();
    expect(await queues.get('log-retention').getWorkersCount()).to.equal(2);
    await Promise.all([a.close(), b.close(), a.close()]);
    expect(await queues.get('log-retention').getWorkersCount()).to.equal(0);
  });
});
