import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { QueueName } from '../../jobs/index.js';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { testEnv } from './hooks.js';
import { TEST_SECRET } from './sync.js';

/**
 * An in-process gateway on a free loopback port over the test Redis, logging into queues under
 * `prefix` (flushed every 50 ms), plus a producer set of `queueNames` the test can inspect.
 * `env` adds or overrides settings.
 */
export async function startTestGateway(
  redis: Redis,
  prefix: string,
  queueNames: QueueName[] = ['logs'],
  env: Record<string, string> = {},
): Promise<{ gateway: RunningServer; queues: QueueSet }> {
  const config = loadConfig({
    env: { EZ_ENV: 'test', EZ_REDIS_URL: testEnv().redisUrl, EZ_QUEUE_PREFIX: prefix, EZ_LOG_FLUSH_MS: '50', ...env },
    cwd: tmpdir(),
  });
  const queues = createQueues(config.redis, prefix, queueNames);
  const gateway = await startGateway({ config, secrets: { master: TEST_SECRET }, redis, logger: createLogger({ level: 'silent' }), port: 0, host: '127.0.0.1' });
  return { gateway, queues };
}

/** Closes the gateway, then empties and closes its queues. */
export async function stopTestGateway(gateway: RunningServer | undefined, queues: QueueSet | undefined): Promise<void> {
  await gateway?.close();
  for (const queue of queues?.list() ?? []) await queue.obliterate({ force: true }).catch(() => undefined);
  await queues?.close();
}

/** The request-log record the gateway queued for `requestId` (bounded poll of the `logs` queue). */
export async function queuedLogRecord(queues: QueueSet, requestId: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await queues.get('logs').getJobs(['waiting', 'delayed', 'active', 'completed']);
    for (const job of jobs) {
      const found = (job.data as { records: Array<Record<string, unknown>> }).records.find((r) => r.request_id === requestId);
      if (found) return found;
    }
    if (Date.now() >= deadline) throw new Error(`no log record for ${requestId} within ${timeoutMs} ms`);
    await sleep(50);
  }
}
