import type { BackoffStrategy, DefaultJobOptions, RepeatOptions } from 'bullmq';
import type { z } from 'zod';
import type { Config } from '../src/lib/config.js';

/**
 * The shape every queue definition has (STYLE.md "One module per queue"). A definition is data:
 * the api imports it to enqueue, the worker imports it to consume and to register schedulers.
 * Nothing here may import a processor, the database or the gateway.
 */

/** A cron-style recurring job, registered by the worker with `Queue.upsertJobScheduler`. */
export interface SchedulerDefinition<Payload> {
  /** Stable id: upserting the same id replaces the scheduler, so N workers never duplicate a tick. */
  id: string;
  /** Either a cron `pattern` (evaluated in `tz`, default UTC) or `every` (milliseconds). */
  repeat: { pattern: string; tz?: string } | { every: number };
  /** The payload each tick carries; validated against the queue's schema at registration. */
  data: Payload;
}

export interface QueueDefinition<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  name: Name;
  /** The payload schema: `enqueue` validates with it before add, the processor parses with it. */
  payload: Schema;
  /** Options every job of this queue starts from (attempts, backoff, retention bounds). */
  defaultJobOptions: DefaultJobOptions;
  /** Static schedulers, or a function of the worker's configuration (intervals from settings). */
  schedulers:
    | ReadonlyArray<SchedulerDefinition<z.input<Schema>>>
    | ((config: Config) => ReadonlyArray<SchedulerDefinition<z.input<Schema>>>);
  /**
   * The worker's custom backoff (BullMQ `settings.backoffStrategy`), used by jobs whose
   * `backoff.type` is not built in; built from the worker's configuration. Optional.
   */
  backoffStrategy?: (config: Config) => BackoffStrategy;
}

/** Identity with inference: keeps the literal name and the schema type of a definition. */
export function defineQueue<const Name extends string, Schema extends z.ZodType>(
  definition: QueueDefinition<Name, Schema>,
): QueueDefinition<Name, Schema> {
  return definition;
}

/**
 * Defaults shared by every queue unless its definition overrides them: 5 attempts with
 * exponential backoff from 1 s (1, 2, 4, 8 s), completed jobs kept 24 h (at most 1,000),
 * failed jobs kept 7 days (at most 5,000) so they can be inspected in Bull Board.
 */
export const DEFAULT_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3_600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3_600, count: 5_000 },
} as const satisfies DefaultJobOptions;

/** Converts a scheduler's repeat setting to BullMQ's RepeatOptions (cron in UTC unless told). */
export function toRepeatOptions(repeat: SchedulerDefinition<unknown>['repeat']): Omit<RepeatOptions, 'key'> {
  return 'every' in repeat ? { every: repeat.every } : { pattern: repeat.pattern, tz: repeat.tz ?? 'UTC' };
}

/** The schedulers a definition asks for under a given configuration. */
export function schedulersOf<S>(
  schedulers: ReadonlyArray<SchedulerDefinition<S>> | ((config: Config) => ReadonlyArray<SchedulerDefinition<S>>),
  config: Config,
): ReadonlyArray<SchedulerDefinition<S>> {
  return typeof schedulers === 'function' ? schedulers(config) : schedulers;
}
