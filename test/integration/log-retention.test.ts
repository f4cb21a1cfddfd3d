import { expect } from 'chai';
import { QueueEvents, type ConnectionOptions } from 'bullmq';
import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues, enqueue, type QueueSet } from '../../jobs/queues.js';
import type { LogRetentionJobResult } from '../../jobs/log-retention/processor.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { ensureRequestLogPartitions, listRequestLogPartitions } from '../../src/db/request-log-partitions.repository.js';
import { applyLogRetention } from '../../src/domain/log-retention.service.js';
import { loadConfig } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

/**
 * Log retention on seeded data (DESIGN §6 "Logs"; issue "Partitions and retention"): partitions
 * past the cutoff go, default-partition rows past it go, the oldest rows beyond the cap go and
 * nothing else; and inserts into today's partition keep flowing while the job runs.
 */
const DAY_MS = 86_400_000;
const midnight = (offsetDays: number) => new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS + offsetDays * DAY_MS);
const dayOf = (offsetDays: number) => midnight(offsetDays).toISOString().slice(0, 10);
const partitionName = (day: string) => `request_logs_p${day.replaceAll('-', '')}`;
/** Far-future days (no other test uses them): one with a partition, one parked in the default partition. */
const FUTURE_PARTITION_DAY = '2095-06-01';
const FUTURE_DEFAULT_DAY = '2096-01-01';

function connectionOptions(redisUrl: string): ConnectionOptions {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
}

describe('log retention on seeded data', function () {
  this.timeout(90_000);
  let knex: Knex;

  /** `rows` rows spread evenly over a UTC day, ids `<tag>-<day>-<000000…>` in time order. */
  async function seedDay(tag: string, day: string, rows: number): Promise<void> {
    const step = Math.floor(DAY_MS / rows);
    await knex.raw(
      `insert into request_logs (request_id, created_at, model, status_code)
       select ? || '-' || ? || '-' || lpad(g::text, 6, '0'), ?::timestamptz + g * (? * interval '1 millisecond'), 'seed-model', 200
         from generate_series(0, ? - 1) g`,
      [tag, day, `${day}T00:00:00Z`, step, rows],
    );
  }

  const countIn = async (table: string): Promise<number> => Number((await knex.raw<{ rows: Array<{ n: number }> }>('select count(*) as n from ??', [table])).rows[0]!.n);
  const countDay = async (day: string): Promise<number> =>
    Number((await knex('request_logs').where('created_at', '>=', `${day}T00:00:00Z`).andWhere('created_at', '<', new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS)).count<Array<{ count: number }>>('* as count'))[0]!.count);
  const partitionDays = async () => new Set((await listRequestLogPartitions(knex)).map((p) => p.day));

  /** Starts from an empty table with daily partitions for day −9 … today + 1, none for days −11 and −10. */
  async function prepare(): Promise<void> {
    await resetDatabase(knex);
    for (const { name, day } of await listRequestLogPartitions(knex)) {
      if (day < dayOf(-9) || day.startsWith('2095-') || day.startsWith('2096-')) await knex.raw('drop table ??', [name]);
    }
    await ensureRequestLogPartitions(knex, { from: midnight(-9), days: 11 });
    await ensureRequestLogPartitions(knex, { from: new Date(`${FUTURE_PARTITION_DAY}T00:00:00Z`), days: 1 });
  }

  before(() => {
    knex = testEnv().knex;
  });

  after(async () => {
    await resetDatabase(knex);
    for (const { name, day } of await listRequestLogPartitions(knex)) {
      if (day.startsWith('2095-')) await knex.raw('drop table ??', [name]);
    }
    await ensureRequestLogPartitions(knex, { from: midnight(-1), days: 9 });
  });

  it('drops partitions past the cutoff, empties the default partition of old rows and trims exactly the oldest rows beyond the cap', async () => {
    await prepare();
    const PER_DAY = 1_000;
    for (let offset = -9; offset <= -1; offset++) await seedDay('old', dayOf(offset), PER_DAY);
    await seedDay('today', dayOf(0), 500);
    await seedDay('future', FUTURE_PARTITION_DAY, 400);
    await seedDay('parked-old', dayOf(-11), 300); // no partition: lands in the default partition
    await seedDay('parked-future', FUTURE_DEFAULT_DAY, 200);
    expect(await countIn('request_logs_default')).to.equal(500);
    // The catalog estimates the trim starts from are what autovacuum's ANALYZE leaves behind.
    await knex.raw('analyze request_logs');

    // Kept by the 7-day cutoff: days −7 … −1 (7,000), today (500), the future partition (400) and
    // the future rows in the default partition (200) = 8,100. A cap of 5,600 trims 2,500: days −7
    // and −6 whole, then the oldest 500 rows of day −5.
    const result = await applyLogRetention(knex, { retentionDays: 7, daysAhead: 1, now: new Date(), maxRecords: 5_600, batchSize: 128 });

    expect(result.cutoff).to.equal(midnight(-7).toISOString());
    expect(result.dropped).to.include.members([partitionName(dayOf(-9)), partitionName(dayOf(-8))]);
    expect(result.busy).to.deep.equal([]);
    expect(result.defaultDeleted).to.equal(300);
    expect(result.trim).to.deep.include({ maxRecords: 5_600, total: 8_100, excess: 2_500, deletedRows: 500, batches: 4, deferred: 0 });
    expect(result.trim.droppedPartitions).to.deep.equal([partitionName(dayOf(-7)), partitionName(dayOf(-6))]);
    // Exact counts only where the trim reached; the newer partitions stayed estimates.
    expect(result.trim.counted).to.deep.equal([partitionName(dayOf(-7)), partitionName(dayOf(-6)), partitionName(dayOf(-5))]);
    expect(result.complete).to.equal(true);

    const days = await partitionDays();
    for (const offset of [-9, -8, -7, -6]) expect(days.has(dayOf(offset)), `partition of day ${offset}`).to.equal(false);
    for (const offset of [-5, -4, -3, -2, -1, 0, 1]) expect(days.has(dayOf(offset)), `partition of day ${offset}`).to.equal(true);
    expect(days.has(FUTURE_PARTITION_DAY)).to.equal(true);

    expect(await countIn('request_logs')).to.equal(5_600);
    // Day −5 lost exactly its 500 oldest rows.
    const dayMinus5 = await knex('request_logs').where('request_id', 'like', `old-${dayOf(-5)}-%`).orderBy('request_id').pluck<string[]>('request_id');
    expect(dayMinus5).to.have.length(500);
    expect(dayMinus5[0]).to.equal(`old-${dayOf(-5)}-000500`);
    // Everything newer is untouched.
    for (const offset of [-4, -3, -2, -1]) expect(await countDay(dayOf(offset)), `rows of day ${offset}`).to.equal(PER_DAY);
    expect(await countDay(dayOf(0))).to.equal(500);
    expect(await countDay(FUTURE_PARTITION_DAY)).to.equal(400);
    expect(await countIn('request_logs_default')).to.equal(200);
    expect(await countDay(FUTURE_DEFAULT_DAY)).to.equal(200);

    // A second run converges: nothing left to drop, delete or trim.
    await knex.raw('analyze request_logs');
    const again = await applyLogRetention(knex, { retentionDays: 7, daysAhead: 1, now: new Date(), maxRecords: 5_600, batchSize: 128 });
    expect(again).to.deep.include({ created: 0, dropped: [], defaultDeleted: 0, complete: true });
    expect(again.trim).to.deep.include({ excess: 0, deletedRows: 0, droppedPartitions: [] });
    expect(await countIn('request_logs')).to.equal(5_600);
  });

  it('bounds the rows one run deletes and leaves the rest for the next run', async () => {
    await prepare();
    await seedDay('old', dayOf(-3), 1_000);
    await seedDay('old', dayOf(-2), 1_000);
    await knex.raw('analyze request_logs');
    const first = await applyLogRetention(knex, { retentionDays: 30, daysAhead: 1, now: new Date(), maxRecords: 1_200, batchSize: 100, maxDeleteRows: 300 });
    // Excess 800: day −3 is 1,000 rows, more than the excess, so it is trimmed row by row: 300 now.
    expect(first.trim).to.deep.include({ excess: 800, deletedRows: 300, batches: 3, deferred: 500 });
    expect(first.complete).to.equal(false);
    await knex.raw('analyze request_logs');
    const second = await applyLogRetention(knex, { retentionDays: 30, daysAhead: 1, now: new Date(), maxRecords: 1_200, batchSize: 100, maxDeleteRows: 1_000 });
    expect(second.trim).to.deep.include({ excess: 500, deletedRows: 500, deferred: 0 });
    expect(await countIn('request_logs')).to.equal(1_200);
    expect(await countDay(dayOf(-2))).to.equal(1_000);
  });

  describe('while inserts keep flowing', () => {
    const prefix = `ez-retention-${randomUUID().slice(0, 8)}`;
    let worker: RunningWorker | undefined;
    let queues: QueueSet | undefined;
    let events: QueueEvents | undefined;
    let inserterDb: Knex | undefined;
    let readerDb: Knex | undefined;

    afterEach(async () => {
      await events?.close();
      await worker?.close();
      if (queues) {
        for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
        await queues.close();
      }
      await inserterDb?.destroy();
      await readerDb?.destroy();
    });

    it('the log-retention job drops, deletes and trims while a concurrent inserter never waits a second', async () => {
      await prepare();
      const PER_DAY = 30_000;
      for (let offset = -9; offset <= -1; offset++) await seedDay('old', dayOf(offset), PER_DAY);
      await seedDay('parked-old', dayOf(-11), 10_000);
      await knex.raw('analyze request_logs');

      const redis = { url: testEnv().redisUrl, defaulted: false };
      const config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis };
      worker = await startWorker({ config, secrets: { master: 'w'.repeat(40) }, knex, logger: createLogger({ level: 'silent' }), queueNames: ['log-retention'] });
      queues = createQueues(redis, prefix, ['log-retention']);
      events = new QueueEvents('log-retention', { connection: connectionOptions(redis.url), prefix });
      await events.waitUntilReady();

      // Separate pools (not createKnex: that rebinds objection's global Model).
      const pool = (name: string) => knexFactory({ client: 'pg', connection: { connectionString: testEnv().pgUrl, application_name: name }, pool: { min: 1, max: 1 } });
      inserterDb = pool('retention-test-inserter');
      readerDb = pool('retention-test-reader');

      // A long report query holds day −8's partition for 2.5 s: dropping it must not queue every
      // insert behind its lock request for that long (lock_timeout, retried).
      const readerHolds = readerDb.transaction(async (trx) => {
        await trx.raw('select count(*) from ??', [partitionName(dayOf(-8))]);
        await sleep(2_500);
      });
      await sleep(100);

      const latencies: number[] = [];
      const inserted: string[] = [];
      let running = true;
      const inserter = (async () => {
        const deadline = Date.now() + 60_000;
        for (let i = 0; running && Date.now() < deadline; i++) {
          const id = `live-${prefix}-${i}`;
          const started = performance.now();
          await inserterDb!.raw('insert into request_logs (request_id, created_at, model, status_code) values (?, now(), ?, 200)', [id, 'live-model']);
          latencies.push(performance.now() - started);
          inserted.push(id);
          await sleep(2);
        }
      })();
      await sleep(200);

      // Kept by the cutoff: days −7 … −1 = 210,000. The cap trims 75,000: days −7 and −6 whole
      // (dropped), then 15,000 rows of day −5 in batches of 5,000.
      const job = await enqueue(queues, 'log-retention', { retentionDays: 7, daysAhead: 1, maxRecords: 135_000 });
      const result = (await job.waitUntilFinished(events, 60_000)) as LogRetentionJobResult;
      await sleep(200);
      running = false;
      await inserter;
      await readerHolds;

      const maxLatency = Math.max(...latencies);
      const sorted = [...latencies].sort((a, b) => a - b);
      const p99 = sorted[Math.floor(sorted.length * 0.99)]!;
      console.log(
        `      retention job took ${result.durationMs} ms (dropped ${result.dropped} + ${result.trim.droppedPartitions} partitions, deleted ${result.defaultDeleted} + ${result.trim.deletedRows} rows in batches); ` +
          `${latencies.length} concurrent inserts: max ${maxLatency.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
      );
      expect(result.dropped).to.be.at.least(1);
      expect(result.trim.droppedPartitions).to.equal(2);
      expect(result.defaultDeleted).to.equal(10_000);
      // The cap counts every row, the live inserts too: each one stored before the count moves
      // the trim up by one row of day −5.
      expect(result.trim.deletedRows).to.be.within(15_000, 15_000 + inserted.length);
      expect(result.complete).to.equal(true);
      expect(latencies.length, 'the inserter kept inserting').to.be.at.least(50);
      expect(maxLatency, 'slowest insert while retention ran (ms)').to.be.below(1_000);

      const days = await partitionDays();
      for (const offset of [-9, -8, -7, -6]) expect(days.has(dayOf(offset)), `partition of day ${offset}`).to.equal(false);
      expect(await countDay(dayOf(-5))).to.equal(PER_DAY - result.trim.deletedRows);
      for (const offset of [-4, -3, -2, -1]) expect(await countDay(dayOf(offset)), `rows of day ${offset}`).to.equal(PER_DAY);
      expect(await countIn('request_logs_default')).to.equal(0);
      const live = Number((await knex('request_logs').where('request_id', 'like', `live-${prefix}-%`).count<Array<{ count: number }>>('* as count'))[0]!.count);
      expect(live, 'every concurrent insert is stored').to.equal(inserted.length);
    });
  });
});
