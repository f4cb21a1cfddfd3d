import { Queue, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { RedisSettings } from '../src/lib/config.js';
import { closeRedis, createRedis } from '../src/lib/redis.js';
import { QUEUE_NAMES, queueCatalog, type PayloadOf, type QueueName } from './index.js';

/**
 * Producer side of the catalog: one BullMQ Queue per name over a single producer connection
 * (fails fast while Redis is offline instead of buffering), and a typed `enqueue`.
 */
export interface QueueSet {
  readonly prefix: string;
  readonly names: readonly QueueName[];
  /** The BullMQ Queue for a name; throws if the set was created without it. */
  get(name: QueueName): Queue;
  /** Every Queue of the set (e.g. for Bull Board). */
  list(): Queue[];
  /** Closes every queue, then the connection. Idempotent. */
  close(): Promise<void>;
}

/** A payload that does not match its queue's schema; nothing was enqueued. */
export class JobPayloadError extends Error {
  override readonly name = 'JobPayloadError';
  constructor(
    readonly queue: QueueName,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(`Invalid payload for queue ${queue}: ${issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`);
  }
}

export function createQueues(redisSettings: RedisSettings, prefix: string, names: QueueName[] = QUEUE_NAMES): QueueSet {
  const connection: Redis = createRedis(redisSettings, 'producer', 'ez-api:queue-producer');
  // A producer connection errors while Redis is away; add() then rejects. Without a listener
  // ioredis would print every reconnect attempt as an unhandled error event.
  connection.on('error', () => {});
  const queues = new Map<QueueName, Queue>();
  for (const name of new Set(names)) {
    const queue = new Queue(name, { connection, prefix, defaultJobOptions: queueCatalog[name].defaultJobOptions });
    queue.on('error', () => {});
    queues.set(name, queue);
  }
  let closing: Promise<void> | undefined;
  return {
    prefix,
    names: [...queues.keys()],
    get(name) {
      const queue = queues.get(name);
      if (!queue) throw new Error(`Queue ${name} is not part of this queue set (has: ${[...queues.keys()].join(', ')})`);
      return queue;
    },
    list: () => [...queues.values()],
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...queues.values()].map((q) => q.close()));
        await closeRedis(connection);
      })();
      return closing;
    },
  };
}

/**
 * Validates the payload with the queue's schema, then adds one job named after the queue.
 * `enqueue(q, 'log-retention', { daysAhead: 3 })` compiles; a wrong payload does not, and a
 * payload that only fails at runtime (e.g. out of range) throws JobPayloadError before add.
 */
export async function enqueue<Q extends QueueName>(
  queueSet: QueueSet,
  name: Q,
  payload: PayloadOf<Q>,
  opts?: JobsOptions,
): Promise<Job> {
  const parsed = queueCatalog[name].payload.safeParse(payload);
  if (!parsed.success) throw new JobPayloadError(name, parsed.error.issues);
  return queueSet.get(name).add(name, parsed.data, opts);
}
