import { Redis, type RedisOptions } from 'ioredis';
import type { RedisSettings } from './config.js';

export type RedisRole =
  /** Enqueues jobs and answers requests: fail fast instead of queueing commands while offline. */
  | 'producer'
  /** BullMQ workers and blocking readers: retry forever (BullMQ requires maxRetriesPerRequest null). */
  | 'worker'
  /** Pub/Sub subscriber. */
  | 'subscriber';

/** One Redis connection configured for its role (BullMQ production guide). */
export function createRedis(settings: RedisSettings, role: RedisRole, name = `ez-api:${role}`): Redis {
  const options: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    maxRetriesPerRequest: role === 'producer' ? 1 : null,
    enableOfflineQueue: role !== 'producer',
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    reconnectOnError: () => false,
  };
  return new Redis(settings.url, options);
}

/** Waits until the connection is ready, or rejects after timeoutMs. */
export async function waitForRedis(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** Closes a connection politely, falling back to disconnect when the server is gone. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await Promise.race([redis.quit(), new Promise((_, reject) => setTimeout(() => reject(new Error('quit timeout')), 1_000))]);
  } catch {
    redis.disconnect();
  }
}
