import { Queue, Worker, type Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Config } from '../src/lib/config.js';
import type { Logger } from '../src/lib/logger.js';
import { closeRedis, createRedis } from '../src/lib/redis.js';
import { SecretBox } from '../src/lib/secret-box.js';
import { schedulersOf, toRepeatOptions } from './define.js';
import { isQueueName, QUEUE_NAMES, queueCatalog, type QueueName } from './index.js';
import type { JobProcessor } from './processor-context.js';
import { checkProcessors, processors } from './processors.js';

export interface WorkerDeps {
  config: Config;
  /** EZ_SECRET: processors open upstream secrets with its subkey. */
  secrets: { master: string };
  knex: Knex;
  logger: Logger;
  /** Queues to consume; default config.worker.queues (EZ_WORKER_QUEUES), else every queue. */
  queueNames?: string[];
}

export interface RunningWorker {
  queues: QueueName[];
  /** Waits for active jobs to finish, then closes queues and the Redis connection. Idempotent. */
  close(): Promise<void>;
}

/** Resolves the queue selection; an unknown name throws naming it and the valid ones. */
export function selectQueues(requested: readonly string[] | undefined): QueueName[] {
  if (requested === undefined) return [...QUEUE_NAMES];
  const unknown = requested.filter((name) => !isQueueName(name));
  if (unknown.length > 0) {
    throw new Error(`Unknown queue(s) ${unknown.map((n) => `"${n}"`).join(', ')} in EZ_WORKER_QUEUES; valid queues: ${QUEUE_NAMES.join(', ')}`);
  }
  const selected = [...new Set(requested as QueueName[])];
  if (selected.length === 0) throw new Error(`No queue selected; valid queues: ${QUEUE_NAMES.join(', ')}`);
  return selected;
}

/** How often the worker re-asserts its job schedulers (ms). */
const SCHEDULER_REASSERT_MS = 30_000;

function isPermanentFailure(job: Job, err: Error): boolean {
  return err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
}

/**
 * Starts one BullMQ Worker per selected queue (DESIGN §8) over a single worker-role connection
 * (maxRetriesPerRequest null; each Worker duplicates it for its blocking reads), and registers the
 * queues' job schedulers. Schedulers are upserted by id, so any number of workers converge on one
 * scheduler per id and a tick runs once; schedulers no longer in a definition are removed.
 */
export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, knex } = deps;
  const names = selectQueues(deps.queueNames ?? config.worker.queues);
  checkProcessors(names, processors);
  const log = deps.logger.child({ module: 'worker' });

  const connection = createRedis(config.redis, 'worker', 'ez-api:worker');
  connection.on('error', (err: Error) => log.warn({ err: { message: err.message } }, 'worker redis connection error'));
  // Processors that write Redis get a fail-fast connection: an apply must error, not hang, while
  // Redis is away (it holds the applier lock in PostgreSQL meanwhile).
  const processorRedis = createRedis(config.redis, 'producer', 'ez-api:worker-writer');
  processorRedis.on('error', () => {});
  const secretBox = new SecretBox(deps.secrets.master);
  const workers: Worker[] = [];
  const queues: Queue[] = [];
  // Schedulers live in Redis: re-assert them now and then, so an emptied Redis (FLUSHALL, a new
  // instance) gets its sweeper back without a restart. Upserts are idempotent.
  const schedulerTimer = setInterval(() => {
    Promise.all(queues.map((queue) => registerSchedulers(queue, queue.name as QueueName, config, log))).catch((err: unknown) =>
      log.debug({ err: { message: (err as Error).message } }, 'could not re-assert job schedulers'),
    );
  }, SCHEDULER_REASSERT_MS);
  schedulerTimer.unref();
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // worker.close() waits for the jobs in progress; then nothing else uses the connection.
      await Promise.allSettled(workers.map((w) => w.close()));
      clearInterval(schedulerTimer);
      await Promise.allSettled(queues.map((q) => q.close()));
      await closeRedis(processorRedis);
      await closeRedis(connection);
      log.info({ queues: names }, 'worker stopped');
    })();
    return closing;
  };

  try {
    for (const name of names) {
      const definition = queueCatalog[name];
      const queue = new Queue(name, { connection, prefix: config.queuePrefix, defaultJobOptions: definition.defaultJobOptions });
      queue.on('error', (err) => log.warn({ queue: name, err }, 'queue error'));
      queues.push(queue);
      await registerSchedulers(queue, name, config, log);

      const processor: JobProcessor = processors[name];
      const worker = new Worker(
        name,
        (job: Job) => {
          const jobLogger = log.child({ queue: name, jobId: job.id, attempt: job.attemptsMade + 1 });
          return processor(job, { config, knex, redis: processorRedis, secretBox, logger: jobLogger, now: () => new Date() });
        },
        {
          connection,
          prefix: config.queuePrefix,
          concurrency: config.worker.concurrency,
          // Every processor is idempotent (STYLE.md): a job stalled by crashed workers is retried,
          // never failed for stalling — a lost logs batch would break invariant 4.
          maxStalledCount: 10,
          lockDuration: config.worker.lockDurationMs,
          stalledInterval: config.worker.stalledIntervalMs,
          ...(definition.backoffStrategy ? { settings: { backoffStrategy: definition.backoffStrategy(config) } } : {}),
        },
      );
      worker.on('error', (err) => log.error({ queue: name, err }, 'worker error'));
      worker.on('failed', (job, err) => {
        if (!job) return log.error({ queue: name, err }, 'job failed');
        const fields = { queue: name, jobId: job.id, attempt: job.attemptsMade, maxAttempts: job.opts.attempts ?? 1, err };
        if (isPermanentFailure(job, err)) log.error(fields, 'job failed permanently');
        else log.warn(fields, 'job failed; will retry with backoff');
      });
      worker.on('completed', (job, result: unknown) => log.debug({ queue: name, jobId: job.id, attempt: job.attemptsMade, result }, 'job completed'));
      worker.on('stalled', (jobId) => log.warn({ queue: name, jobId }, 'job stalled; another worker will pick it up'));
      workers.push(worker);
      await worker.waitUntilReady();
    }
  } catch (err) {
    await close();
    throw err;
  }
  log.info({ queues: names, concurrency: config.worker.concurrency, prefix: config.queuePrefix }, 'worker started');
  return { queues: names, close };
}

async function registerSchedulers(queue: Queue, name: QueueName, config: Config, log: Logger): Promise<void> {
  const definition = queueCatalog[name];
  const wanted = new Set<string>();
  for (const scheduler of schedulersOf<unknown>(definition.schedulers, config)) {
    const parsed = definition.payload.safeParse(scheduler.data);
    if (!parsed.success) throw new Error(`Scheduler ${scheduler.id} of queue ${name} has an invalid payload: ${parsed.error.message}`);
    // The raw data is stored, so payload defaults apply when each tick runs, not when registered.
    await queue.upsertJobScheduler(scheduler.id, toRepeatOptions(scheduler.repeat), { name, data: scheduler.data });
    wanted.add(scheduler.id);
  }
  for (const existing of await queue.getJobSchedulers()) {
    if (!wanted.has(existing.key)) {
      await queue.removeJobScheduler(existing.key);
      log.info({ queue: name, scheduler: existing.key }, 'removed a job scheduler no longer defined');
    }
  }
}
