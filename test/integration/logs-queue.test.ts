import { expect } from 'chai';
import { QueueEvents, UnrecoverableError, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { logBatchJobId, MAX_LOG_BATCH } from '../../jobs/logs/definition.js';
import { processLogs } from '../../jobs/logs/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { createQueues, enqueue, JobPayloadError } from '../../jobs/queues.js';
import { startWorker } from '../../jobs/worker.js';
import { listUsageHourly } from '../../src/db/usage.repository.js';
import { persistRequestLogs } from '../../src/domain/request-logs.service.js';
import type { RequestLogRecord } from '../../src/gateway/types.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

const logger = createLogger({ level: 'silent' });
/** Inside today's partition (the migration creates yesterday .. today + 7), at a fixed minute. */
const TODAY = new Date().toISOString().slice(0, 10);
const at = (hour: number, minute = 0, second = 0) => `${TODAY}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:${String(second).padStart(2, '0')}.000Z`;

let seq = 0;
function record(overrides: Partial<RequestLogRecord> = {}): RequestLogRecord {
  seq += 1;
  return {
    request_id: `req-${seq}-${randomUUID().slice(0, 8)}`,
    created_at: at(10, 15),
    master_id: 1,
    key_id: 11,
    namespace: 'default',
    model: 'gpt-4o',
    upstream_model: 'gpt-4o-2024-08-06',
    provider_group_id: 5,
    api_key_id: 7,
    format_in: 'openai',
    format_out: 'openai',
    stream: false,
    status_code: 200,
    error_code: null,
    error_message: null,
    latency_ms: 100,
    ttft_ms: null,
    prompt_tokens: 10,
    completion_tokens: 20,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    cost_list: 0.1,
    cost_actual: 0.2,
    usage_source: 'upstream',
    client_ip: '10.0.0.1',
    attempts: 1,
    request_body: null,
    abort_reason: null,
    ...overrides,
  };
}

function context(config: Config): ProcessorContext {
  return {
    config,
    knex: testEnv().knex,
    redis: new Redis(testEnv().redisUrl, { lazyConnect: true }),
    secretBox: new SecretBox('l'.repeat(40)),
    logger,
    now: () => new Date(),
  };
}

const job = (data: unknown) => ({ id: 'test', data, attemptsMade: 0, opts: {} }) as unknown as Job<unknown>;

async function logCount(): Promise<number> {
  const row = (await testEnv().knex('request_logs').count<Array<{ n: string | number }>>('* as n').first()) as { n: string | number };
  return Number(row.n);
}

/** usage_hourly as comparable plain rows (no ids or timestamps of the upsert itself). */
async function usage() {
  return (await listUsageHourly(testEnv().knex)).map((r) => ({
    hour: r.hour.toISOString(),
    master_id: r.master_id,
    key_id: r.key_id,
    model: r.model,
    api_key_id: r.api_key_id,
    status_class: r.status_class,
    request_count: r.request_count,
    prompt_tokens: r.prompt_tokens,
    completion_tokens: r.completion_tokens,
    cache_read_tokens: r.cache_read_tokens,
    cache_write_tokens: r.cache_write_tokens,
    cost_list: r.cost_list,
    cost_actual: r.cost_actual,
    latency_ms_sum: r.latency_ms_sum,
    ttft_ms_sum: r.ttft_ms_sum,
    ttft_count: r.ttft_count,
  }));
}

describe('logs queue', () => {
  const config = loadConfig({ env: { EZ_ENV: 'test' }, cwd: tmpdir() });
  let ctx: ProcessorContext;

  beforeEach(async () => {
    await resetDatabase();
    ctx = context(config);
  });
  afterEach(() => ctx.redis.disconnect());

  it('a batch becomes one row per request and one usage bucket; replaying it inserts nothing and counts nothing twice', async () => {
    const records = [record(), record({ prompt_tokens: 5, completion_tokens: 7, latency_ms: 300, ttft_ms: 40 }), record({ ttft_ms: 60 })];
    const first = await processLogs(job({ records }), ctx);
    expect(first).to.deep.equal({ inserted: 3, duplicates: 0, buckets: 1 });
    expect(await logCount()).to.equal(3);
    const afterFirst = await usage();
    expect(afterFirst).to.deep.equal([
      {
        hour: at(10),
        master_id: 1,
        key_id: 11,
        model: 'gpt-4o',
        api_key_id: 7,
        status_class: '2xx',
        request_count: 3,
        prompt_tokens: 25,
        completion_tokens: 47,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_list: 0.3,
        cost_actual: 0.6,
        latency_ms_sum: 500,
        ttft_ms_sum: 100,
        ttft_count: 2,
      },
    ]);

    // The worker died after commit, before BullMQ heard: the same job runs again.
    const replay = await processLogs(job({ records }), ctx);
    expect(replay).to.deep.equal({ inserted: 0, duplicates: 3, buckets: 0 });
    expect(await logCount()).to.equal(3);
    expect(await usage()).to.deep.equal(afterFirst);
  });

  it('a record already stored by another batch, or repeated within a batch, is stored and counted once', async () => {
    const shared = record();
    await processLogs(job({ records: [record(), shared] }), ctx);
    const fresh = record({ prompt_tokens: 1 });
    const result = await processLogs(job({ records: [shared, fresh, fresh, record({ prompt_tokens: 2 })] }), ctx);
    expect(result).to.deep.equal({ inserted: 2, duplicates: 2, buckets: 1 });
    expect(await logCount()).to.equal(4);
    const [bucket] = await usage();
    expect(bucket).to.include({ request_count: 4, prompt_tokens: 10 + 10 + 1 + 2 });
  });

  it('aggregates per UTC hour, master, key, model, upstream key and status class', async () => {
    const records = [
      record({ created_at: at(9, 59, 59), status_code: 200, cost_list: 0.1 }),
      record({ created_at: at(10, 0, 0), status_code: 200, cost_list: 0.2 }),
      record({ created_at: at(10, 30), status_code: 201, cost_list: 0.3 }),
      record({ created_at: at(10, 30), status_code: 429, error_code: 'rate_limited' }),
      record({ created_at: at(10, 31), status_code: 503 }),
      record({ created_at: at(10, 32), status_code: 0, abort_reason: 'client_closed', api_key_id: null }),
      record({ created_at: at(10, 33), model: 'claude-sonnet' }),
      record({ created_at: at(10, 34), master_id: null, key_id: null, model: null, api_key_id: null, status_code: 401, prompt_tokens: 0, completion_tokens: 0 }),
      record({ created_at: at(10, 35), master_id: null, key_id: null, model: null, api_key_id: null, status_code: 401, prompt_tokens: 0, completion_tokens: 0 }),
      // +01:00 offset: 12:10 local is 11:10 UTC.
      record({ created_at: `${TODAY}T12:10:00+01:00` }),
    ];
    const result = await processLogs(job({ records }), ctx);
    expect(result).to.deep.equal({ inserted: 10, duplicates: 0, buckets: 8 });
    const rows = (await usage()).map((r) => [r.hour.slice(11, 13), r.master_id, r.model, r.api_key_id, r.status_class, r.request_count, r.cost_list]);
    expect(rows).to.have.deep.members([
      ['09', 1, 'gpt-4o', 7, '2xx', 1, 0.1],
      ['10', 1, 'gpt-4o', 7, '2xx', 2, 0.5],
      ['10', 1, 'gpt-4o', 7, '4xx', 1, 0.1],
      ['10', 1, 'gpt-4o', 7, '5xx', 1, 0.1],
      ['10', 1, 'gpt-4o', null, 'error', 1, 0.1],
      ['10', 1, 'claude-sonnet', 7, '2xx', 1, 0.1],
      ['10', null, null, null, '4xx', 2, 0.2],
      ['11', 1, 'gpt-4o', 7, '2xx', 1, 0.1],
    ]);

    // A second batch adds to the existing buckets (NULLs included) instead of creating new ones.
    await processLogs(job({ records: [record({ created_at: at(10, 40) }), record({ created_at: at(10, 50), master_id: null, key_id: null, model: null, api_key_id: null, status_code: 401 })] }), ctx);
    const after = await usage();
    expect(after).to.have.length(8);
    expect(after.find((r) => r.hour === at(10) && r.model === 'gpt-4o' && r.status_class === '2xx' && r.api_key_id === 7)).to.include({ request_count: 3 });
    expect(after.find((r) => r.master_id === null)).to.include({ request_count: 3 });
  });

  it('keeps costs exact when summing (numeric, not floating point)', async () => {
    await persistRequestLogs(testEnv().knex, [record({ cost_list: 0.1, cost_actual: 0.000001 }), record({ cost_list: 0.2, cost_actual: 1e-7 })]);
    const { rows } = await testEnv().knex.raw<{ rows: Array<{ cost_list: string; cost_actual: string }> }>(
      'select cost_list::text as cost_list, cost_actual::text as cost_actual from usage_hourly',
    );
    expect(rows).to.deep.equal([{ cost_list: '0.3', cost_actual: '0.0000011' }]);
  });

  it(`stores a ${MAX_LOG_BATCH.toLocaleString('en')}-record batch in one statement`, async function () {
    this.timeout(60_000);
    const records = Array.from({ length: MAX_LOG_BATCH }, (_, i) =>
      record({ created_at: at(8 + (i % 3), i % 60), model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini', status_code: i % 10 === 0 ? 500 : 200 }),
    );
    const statements: string[] = [];
    const onQuery = (query: { sql: string }) => statements.push(query.sql);
    testEnv().knex.on('query', onQuery);
    const started = Date.now();
    const result = await processLogs(job({ records }), ctx).finally(() => testEnv().knex.off('query', onQuery));
    const elapsed = Date.now() - started;
    expect(statements.filter((sql) => /insert into request_logs/i.test(sql))).to.have.length(1);
    expect(statements.filter((sql) => /insert into usage_hourly/i.test(sql))).to.have.length(1);
    expect(result.inserted).to.equal(MAX_LOG_BATCH);
    expect(await logCount()).to.equal(MAX_LOG_BATCH);
    const total = (await usage()).reduce((sum, r) => sum + r.request_count, 0);
    expect(total).to.equal(MAX_LOG_BATCH);
    expect(elapsed, 'a batch well under the 5,000 records/s target').to.be.below(10_000);
  });

  it('a job with a malformed record fails permanently, naming the record, and stores nothing', async () => {
    const bad = { ...record(), status_code: 'two hundred' } as unknown as RequestLogRecord;
    const records = [record(), record(), bad];
    let error: unknown;
    await processLogs(job({ records }), ctx).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(UnrecoverableError);
    expect((error as Error).message).to.include('records[2]').and.to.include(bad.request_id).and.to.include('status_code');
    expect(await logCount()).to.equal(0);

    // An unknown field is refused too (strict schema), as is an empty or oversized batch.
    const extra = { ...record(), secret_header: 'x' };
    await processLogs(job({ records: [extra] }), ctx).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.include('records[0]').and.to.include('secret_header');
    await processLogs(job({ records: [] }), ctx).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(UnrecoverableError);
  });

  it('the typed enqueue refuses a malformed batch before it reaches Redis', async () => {
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, `ez-test-${randomUUID().slice(0, 8)}`, ['logs']);
    try {
      const bad = { ...record(), latency_ms: -1 };
      let error: unknown;
      await enqueue(queues, 'logs', { records: [bad] }).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(JobPayloadError);
      expect((error as JobPayloadError).issues[0]?.path).to.deep.equal(['records', 0, 'latency_ms']);
    } finally {
      await queues.close();
    }
  });

  it('the same batch always gets the same jobId, and a different batch another', () => {
    const a = [record(), record()];
    expect(logBatchJobId(a)).to.equal(logBatchJobId(a.map((r) => ({ ...r }))));
    expect(logBatchJobId(a)).to.match(/^logs-2-[A-Za-z0-9_-]+$/).and.not.to.include(':');
    expect(logBatchJobId(a)).not.to.equal(logBatchJobId([a[0]!]));
    // Same first request id (clients pick X-Request-ID and may reuse it), different batch.
    expect(logBatchJobId(a)).not.to.equal(logBatchJobId([a[0]!, record()]));
  });

  it('end to end: a worker consuming `logs` persists an enqueued batch, and a re-enqueued batch is one job', async () => {
    const prefix = `ez-test-${randomUUID().slice(0, 8)}`;
    const redis = { url: testEnv().redisUrl, defaulted: false };
    const workerConfig: Config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis };
    const worker = await startWorker({ config: workerConfig, secrets: { master: 'w'.repeat(40) }, knex: testEnv().knex, logger, queueNames: ['logs'] });
    const queues = createQueues(redis, prefix, ['logs']);
    const url = new URL(testEnv().redisUrl);
    const connection: ConnectionOptions = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
    const events = new QueueEvents('logs', { connection, prefix });
    try {
      await events.waitUntilReady();
      const records = [record(), record()];
      const jobId = logBatchJobId(records);
      const added = await enqueue(queues, 'logs', { records }, { jobId });
      expect(await added.waitUntilFinished(events, 15_000)).to.deep.equal({ inserted: 2, duplicates: 0, buckets: 1 });
      const again = await enqueue(queues, 'logs', { records }, { jobId });
      expect(again.id).to.equal(added.id);
      expect(await logCount()).to.equal(2);
    } finally {
      await events.close();
      await worker.close();
      await queues.get('logs').obliterate({ force: true });
      await queues.close();
    }
  });
});
