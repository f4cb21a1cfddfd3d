import { UnrecoverableError, type Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { SecretBox } from '../src/lib/secret-box.js';
import type { z } from 'zod';
import type { Config } from '../src/lib/config.js';
import type { Logger } from '../src/lib/logger.js';
import type { QueueDefinition } from './define.js';

/** What every processor may use; built once per worker process. */
export interface ProcessorContext {
  config: Config;
  knex: Knex;
  /** Fail-fast (producer-role) connection for processors that write Redis (sync). */
  redis: Redis;
  /** Opens upstream secrets for the provider snapshot. */
  secretBox: SecretBox;
  /** Child logger carrying `queue`, `jobId` and `attempt`. */
  logger: Logger;
  /** The clock, injectable for tests. */
  now(): Date;
}

export type JobProcessor<Result = unknown> = (job: Job<unknown>, ctx: ProcessorContext) => Promise<Result>;

/**
 * Parses a job's data with its queue's schema. A payload that does not parse will never parse on
 * a retry, so it fails the job permanently (BullMQ UnrecoverableError) instead of backing off.
 */
export function parsePayload<S extends z.ZodType>(definition: QueueDefinition<string, S>, data: unknown): z.output<S> {
  const parsed = definition.payload.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ');
    throw new UnrecoverableError(`Invalid ${definition.name} payload: ${problems}`);
  }
  return parsed.data;
}
