import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { createQueues } from '../../jobs/queues.js';
import type { Redis } from 'ioredis';
import type { ApiAppOptions } from '../../src/api/app.js';
import type { ApiDeps } from '../../src/api/deps.js';
import { startApi } from '../../src/api/server.js';
import { loadConfig } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import type { ResolvedSecrets } from '../../src/lib/secrets.js';
import { testEnv } from '../support/hooks.js';

export const ADMIN_TOKEN = 'ezadm_test-admin-token-0123456789';
export const BODY_LIMIT_BYTES = 2_048;

export interface TestApi {
  url: string;
  deps: ApiDeps;
  queue: Queue;
  close(): Promise<void>;
}

/**
 * A real api server on 127.0.0.1:0 over the test PostgreSQL and Redis, with a unique Bull Board
 * queue. `redisUrl` points the producer connection elsewhere (e.g. a closed port).
 */
export async function startTestApi(options: {
  queueName: string;
  redisUrl?: string;
  app?: ApiAppOptions;
  logger?: Logger;
}): Promise<TestApi> {
  const env = testEnv();
  const cwd = mkdtempSync(path.join(tmpdir(), 'ez-api-test-'));
  const config = loadConfig({
    env: {
      EZ_ENV: 'test',
      EZ_PG_DSN: env.pgUrl,
      EZ_REDIS_URL: env.redisUrl,
      EZ_ADMIN_TOKEN: ADMIN_TOKEN,
      EZ_SECRET: 'test-secret-0123456789abcdef0123456789abcdef',
      EZ_API_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
      EZ_LOG_LEVEL: 'silent',
    },
    cwd,
  });
  const secrets: ResolvedSecrets = {
    master: 'test-secret-0123456789abcdef0123456789abcdef',
    adminToken: ADMIN_TOKEN,
    internalToken: 'ezint_test-internal-token-0123456789',
    generated: [],
  };
  const redis: Redis = createRedis({ url: options.redisUrl ?? env.redisUrl, defaulted: false }, 'producer');
  redis.on('error', () => {}); // a down Redis is a scenario under test, not a crash
  if (!options.redisUrl) await waitForRedis(redis, 5_000);
  const queues = createQueues({ url: env.redisUrl, defaulted: false }, `ez-test-${options.queueName}-${randomUUID().slice(0, 8)}`);
  const queue = queues.get('log-retention');
  const deps: ApiDeps = {
    config,
    secrets,
    knex: env.knex,
    redis,
    queues,
    logger: options.logger ?? createLogger({ level: 'silent' }),
  };
  let server: RunningServer;
  try {
    server = await startApi({ ...deps, port: 0, host: '127.0.0.1', ...(options.app ? { app: options.app } : {}) });
  } catch (err) {
    await queues.close();
    await closeRedis(redis);
    throw err;
  }
  return {
    url: server.url,
    deps,
    queue,
    async close() {
      await server.close();
      for (const q of queues.list()) await q.obliterate({ force: true }).catch(() => {});
      await queues.close();
      await closeRedis(redis);
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

export interface ErrorJson {
  error: { code: string; message: string; details?: Array<{ field: string; message: string }> };
}
