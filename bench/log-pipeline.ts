/**
 * `npm run bench -- log-pipeline`: records/s the log pipeline persists into PostgreSQL (DESIGN §10:
 * ≥ 5,000 records/s). N records in `logs` jobs of EZ_LOG_BATCH_SIZE, each with the jobId the
 * gateway's buffer gives it, consumed by a real worker process (`src/bin/worker.ts`,
 * EZ_WORKER_QUEUES=logs, default concurrency): the time runs from the first enqueue until the queue
 * has drained, i.e. every job's rows and usage are committed.
 *
 * PostgreSQL and Redis are throwaway local servers (src/lib/local-services.ts) unless
 * BENCH_PG_DSN and BENCH_REDIS_URL name others; EZ_PG_DSN is never used, so a benchmark never writes
 * into a real deployment. Loopback only, bounded: N records (BENCH_LOG_RECORDS, default 50,000) and a
 * 120 s deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { logBatchJobId, MAX_LOG_BATCH } from '../jobs/logs/definition.js';
import { createQueues, enqueue } from '../jobs/queues.js';
import { createKnex, migrateLatest } from '../src/db/knex.js';
import type { RequestLogRecord } from '../src/gateway/types.js';
import { startLocalPostgres, startLocalRedis, type LocalService } from '../src/lib/local-services.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

/** DESIGN §10. */
export const LOG_PIPELINE_TARGET_RPS = 5_000;
const DEADLINE_MS = 120_000;

export interface LogPipelineResult {
  records: number;
  batchSize: number;
  jobs: number;
  concurrency: number;
  enqueueSeconds: number;
  seconds: number;
  recordsPerSecond: number;
  ratioToTarget: number;
  services: 'local' | 'configured';
}

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}

/** Records shaped like the gateway's: a spread of masters, keys, models and statuses in this hour. */
function makeRecords(runId: string, count: number): RequestLogRecord[] {
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const models = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4', 'gemini-2.5-flash', 'text-embedding-3-small'];
  const records: RequestLogRecord[] = [];
  for (let i = 0; i < count; i++) {
    const master = 1 + (i % 10);
    const failed = i % 50 === 0;
    records.push({
      request_id: `bench-${runId}-${i}`,
      created_at: new Date(hour + (i % 3_600_000)).toISOString(),
      master_id: master,
      key_id: master * 100 + (i % 7),
      namespace: 'default',
      model: models[i % models.length]!,
      upstream_model: models[i % models.length]!,
      provider_group_id: 1 + (i % 3),
      api_key_id: 1 + (i % 20),
      format_in: 'openai',
      format_out: i % 3 === 0 ? 'anthropic' : 'openai',
      stream: i % 2 === 0,
      status_code: failed ? 502 : 200,
      error_code: failed ? 'upstream_failed' : null,
      error_message: failed ? 'The upstream answered 502' : null,
      latency_ms: 40 + (i % 400),
      ttft_ms: i % 2 === 0 ? 20 + (i % 100) : null,
      prompt_tokens: 50 + (i % 500),
      completion_tokens: 10 + (i % 200),
      cache_read_tokens: i % 4 === 0 ? 32 : 0,
      cache_write_tokens: 0,
      cost_list: 0.000_15,
      cost_actual: 0.000_12,
      usage_source: 'upstream',
      client_ip: '127.0.0.1',
      attempts: 1,
      request_body: null,
      abort_reason: null,
    });
  }
  return records;
}

function startWorkerProcess(env: Record<string, string>): { child: ChildProcess; ready: Promise<void>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/bin/worker.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('worker started')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}:\n${output.slice(-2000)}`)));
  });
  return { child, ready, output: () => output };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await withTimeout(exited, 15_000, 'worker did not stop').catch(() => child.kill('SIGKILL'));
}

/** Rejects with `message` after `ms` unless `promise` settles first; leaves no timer behind. */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export async function measureLogPipeline(): Promise<LogPipelineResult> {
  const records = positiveEnv('BENCH_LOG_RECORDS', 50_000);
  const batchSize = Math.min(positiveEnv('EZ_LOG_BATCH_SIZE', 500), MAX_LOG_BATCH);
  const concurrency = positiveEnv('EZ_WORKER_CONCURRENCY', 4);
  const configured = Boolean(process.env.BENCH_PG_DSN && process.env.BENCH_REDIS_URL);
  const local: LocalService[] = [];
  let worker: ReturnType<typeof startWorkerProcess> | undefined;
  const prefix = `ez-bench-${randomUUID().slice(0, 8)}`;
  try {
    let pgUrl = process.env.BENCH_PG_DSN ?? '';
    let redisUrl = process.env.BENCH_REDIS_URL ?? '';
    if (!configured) {
      const [pg, redis] = await Promise.all([startLocalPostgres({ baseDir: path.join(root, '.data', 'bench') }), startLocalRedis({ baseDir: path.join(root, '.data', 'bench') })]);
      local.push(pg, redis);
      pgUrl = pg.url;
      redisUrl = redis.url;
    }
    const knex = createKnex({ dsn: pgUrl, poolMax: 2, applicationName: 'ez-bench' });
    const redisSettings = { url: redisUrl, defaulted: false };
    const queues = createQueues(redisSettings, prefix, ['logs']);
    try {
      await migrateLatest(knex);
      worker = startWorkerProcess({
        EZ_ENV: 'production',
        EZ_LOG_LEVEL: 'info',
        EZ_HOST: '127.0.0.1',
        EZ_DATA_DIR: path.join(root, '.data', 'bench'),
        EZ_WORKER_QUEUES: 'logs',
        EZ_WORKER_CONCURRENCY: String(concurrency),
        EZ_PG_DSN: pgUrl,
        EZ_REDIS_URL: redisUrl,
        EZ_QUEUE_PREFIX: prefix,
        EZ_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef',
      });
      await withTimeout(worker.ready, 60_000, 'worker did not start within 60 s');
      const logs = queues.get('logs');

      // Warm-up (connections, JIT, the first partition pages), not measured.
      const warm = makeRecords(`warm-${prefix}`, batchSize);
      await enqueue(queues, 'logs', { records: warm }, { jobId: logBatchJobId(warm) });
      await waitForDrained(logs, 30_000);

      const batches: RequestLogRecord[][] = [];
      const all = makeRecords(prefix, records);
      for (let i = 0; i < all.length; i += batchSize) batches.push(all.slice(i, i + batchSize));
      const started = performance.now();
      for (const batch of batches) await enqueue(queues, 'logs', { records: batch }, { jobId: logBatchJobId(batch) });
      const enqueueSeconds = (performance.now() - started) / 1_000;
      await waitForDrained(logs, DEADLINE_MS);
      const seconds = (performance.now() - started) / 1_000;

      const { rows } = await knex.raw<{ rows: Array<{ n: number }> }>('select count(*) as n from request_logs where request_id like ?', [`bench-${prefix}-%`]);
      const stored = Number(rows[0]?.n ?? 0);
      if (stored !== records) throw new Error(`expected ${records} rows, found ${stored}`);
      const failed = await logs.getFailedCount();
      if (failed > 0) throw new Error(`${failed} logs jobs failed:\n${worker.output().slice(-2000)}`);
      const recordsPerSecond = records / seconds;
      return {
        records,
        batchSize,
        jobs: batches.length,
        concurrency,
        enqueueSeconds,
        seconds,
        recordsPerSecond,
        ratioToTarget: recordsPerSecond / LOG_PIPELINE_TARGET_RPS,
        services: configured ? 'configured' : 'local',
      };
    } finally {
      if (worker) await stopProcess(worker.child);
      await queues.get('logs').obliterate({ force: true }).catch(() => undefined);
      await queues.close();
      if (configured) {
        // Leave a configured database as it was (usage_hourly keeps the bench's contribution: its
        // buckets are shared, so they are not subtracted back).
        await knex('request_logs').where('request_id', 'like', `bench-${prefix}%`).delete().catch(() => undefined);
      }
      await knex.destroy();
    }
  } finally {
    for (const service of local.reverse()) await service.stop();
  }
}

/**
 * Polls until nothing is waiting, delayed or active any more (completed jobs are trimmed to the
 * queue's removeOnComplete count, so they cannot be counted), bounded; a failed job is an error.
 */
async function waitForDrained(queue: { getJobCounts(...types: string[]): Promise<Record<string, number>> }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed');
    if ((counts.failed ?? 0) > 0) throw new Error(`${counts.failed} logs jobs failed`);
    const pending = (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0) + (counts.active ?? 0);
    if (pending === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending} logs jobs still pending after ${timeoutMs} ms`);
    await sleep(10);
  }
}

export function formatLogPipeline(r: LogPipelineResult): string {
  return [
    '| records | batch | jobs | worker concurrency | enqueue s | total s | records/s | ratio to 5,000/s target |',
    '|---|---|---|---|---|---|---|---|',
    `| ${r.records} | ${r.batchSize} | ${r.jobs} | ${r.concurrency} | ${r.enqueueSeconds.toFixed(2)} | ${r.seconds.toFixed(2)} | ${r.recordsPerSecond.toFixed(0)} | ${r.ratioToTarget.toFixed(2)}× |`,
    '',
    r.services === 'local'
      ? 'PostgreSQL and Redis: throwaway local servers (fsync=off, synchronous_commit=off); set BENCH_PG_DSN and BENCH_REDIS_URL to measure against others.'
      : 'PostgreSQL and Redis: BENCH_PG_DSN / BENCH_REDIS_URL.',
  ].join('\n');
}
