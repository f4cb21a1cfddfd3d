import type { z } from 'zod';
import type { QueueDefinition } from './define.js';
import { alertsQueue } from './alerts/definition.js';
import { logRetentionQueue } from './log-retention/definition.js';
import { logWebhookQueue } from './log-webhook/definition.js';
import { logsQueue } from './logs/definition.js';
import { providerEventsQueue } from './provider-events/definition.js';
import { statsQueue } from './stats/definition.js';
import { syncQueue } from './sync/definition.js';
import { tokenRefreshQueue } from './token-refresh/definition.js';
import { webhooksQueue } from './webhooks/definition.js';

/**
 * The typed queue catalog (DESIGN §8, STYLE.md "One module per queue"). A queue is listed here
 * only once its processor exists (jobs/processors.ts must map every name, or the worker refuses
 * to start). The api imports this module and jobs/queues.ts, never a processor.
 */
export const queueCatalog = {
  [syncQueue.name]: syncQueue,
  [logRetentionQueue.name]: logRetentionQueue,
  [logsQueue.name]: logsQueue,
  [providerEventsQueue.name]: providerEventsQueue,
  [webhooksQueue.name]: webhooksQueue,
  [logWebhookQueue.name]: logWebhookQueue,
  [statsQueue.name]: statsQueue,
  [tokenRefreshQueue.name]: tokenRefreshQueue,
  [alertsQueue.name]: alertsQueue,
} as const satisfies Record<string, QueueDefinition>;

export type QueueCatalog = typeof queueCatalog;
export type QueueName = keyof QueueCatalog;
/** What a producer passes to `enqueue` (optional fields may be left out). */
export type PayloadOf<Q extends QueueName> = z.input<QueueCatalog[Q]['payload']>;
/** What a processor sees after parsing (defaults applied). */
export type ParsedPayloadOf<Q extends QueueName> = z.output<QueueCatalog[Q]['payload']>;

export const QUEUE_NAMES = Object.keys(queueCatalog) as QueueName[];

export function isQueueName(name: string): name is QueueName {
  return Object.hasOwn(queueCatalog, name);
}

export function queueDefinition<Q extends QueueName>(name: Q): QueueCatalog[Q] {
  return queueCatalog[name];
}

export type { QueueDefinition, SchedulerDefinition } from './define.js';
export { DEFAULT_JOB_OPTIONS } from './define.js';
