import { processAlerts } from './alerts/processor.js';
import type { QueueName } from './index.js';
import { processLogRetention } from './log-retention/processor.js';
import { processLogWebhook } from './log-webhook/processor.js';
import { processLogs } from './logs/processor.js';
import type { JobProcessor } from './processor-context.js';
import { processProviderEvent } from './provider-events/processor.js';
import { processStats } from './stats/processor.js';
import { processSync } from './sync/processor.js';
import { processTokenRefresh } from './token-refresh/processor.js';
import { processWebhook } from './webhooks/processor.js';

/**
 * QueueName → processor. Typed as a complete record, so a catalog entry without a processor is a
 * compile error; the worker also checks at start-up (checkProcessors) in case a map is built
 * dynamically. Only the worker imports this module.
 */
export const processors: Record<QueueName, JobProcessor> = {
  sync: processSync,
  'log-retention': processLogRetention,
  logs: processLogs,
  'provider-events': processProviderEvent,
  webhooks: processWebhook,
  'log-webhook': processLogWebhook,
  stats: processStats,
  'token-refresh': processTokenRefresh,
  alerts: processAlerts,
};

/** Throws unless every named queue has a processor (immich `JobRepository.setup`). */
export function checkProcessors(names: readonly string[], map: Partial<Record<string, JobProcessor>>): void {
  const missing = names.filter((name) => typeof map[name] !== 'function');
  if (missing.length > 0) throw new Error(`Refusing to start: no processor for queue(s) ${missing.join(', ')} (jobs/processors.ts)`);
}
