import { existsSync } from 'node:fs';
import path from 'node:path';
import { startLocalPostgres, startLocalRedis } from '../../src/lib/local-services.js';

/**
 * Where the tests' PostgreSQL and Redis come from, in this order:
 *   1. EZ_TEST_PG_DSN / EZ_TEST_REDIS_URL (never EZ_PG_DSN: the tests truncate tables);
 *   2. testcontainers, when a Docker engine answers;
 *   3. throwaway local servers from the system's binaries (src/lib/local-services.ts).
 */
export interface TestServices {
  pgUrl: string;
  redisUrl: string;
  source: 'configured' | 'testcontainers' | 'local';
  stop(): Promise<void>;
}

export const TEST_DATA_DIR = path.resolve('.data', 'test');

async function dockerAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

async function fromContainers(): Promise<TestServices> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const [pg, redis] = await Promise.all([
    new GenericContainer('postgres:15-alpine')
      .withEnvironment({ POSTGRES_USER: 'ez', POSTGRES_PASSWORD: 'ez', POSTGRES_DB: 'ez_api' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start(),
    new GenericContainer('redis:7-alpine')
      .withCommand(['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start(),
  ]);
  return {
    pgUrl: `postgres://ez:ez@${pg.getHost()}:${pg.getMappedPort(5432)}/ez_api`,
    redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}/0`,
    source: 'testcontainers',
    async stop() {
      await Promise.all([pg.stop(), redis.stop()]);
    },
  };
}

export async function startTestServices(): Promise<TestServices> {
  const pgUrl = process.env.EZ_TEST_PG_DSN;
  const redisUrl = process.env.EZ_TEST_REDIS_URL;
  if (pgUrl && redisUrl) return { pgUrl, redisUrl, source: 'configured', stop: async () => {} };
  if (!pgUrl && !redisUrl && (await dockerAnswers())) return fromContainers();
  const [pg, redis] = await Promise.all([
    pgUrl ? undefined : startLocalPostgres({ baseDir: TEST_DATA_DIR }),
    redisUrl ? undefined : startLocalRedis({ baseDir: TEST_DATA_DIR }),
  ]);
  return {
    pgUrl: pgUrl ?? pg!.url,
    redisUrl: redisUrl ?? redis!.url,
    source: pgUrl || redisUrl ? 'configured' : 'local',
    async stop() {
      await Promise.all([pg?.stop(), redis?.stop()]);
    },
  };
}
