import type { Redis } from 'ioredis';
import { applyDueChanges, type SyncDeps } from '../../src/domain/sync/sync.service.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { testEnv } from './hooks.js';

/** The EZ_SECRET the api test helpers use; secrets sealed by the api open with it here. */
export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export function syncDeps(redis: Redis, overrides: Partial<SyncDeps> = {}): SyncDeps {
  return {
    knex: testEnv().knex,
    redis,
    secretBox: new SecretBox(TEST_SECRET),
    logger: createLogger({ level: 'silent' }),
    batchSize: 100,
    maxAttempts: 5,
    ...overrides,
  };
}

/** Applies every due outbox row now, as the sync worker would. */
export async function syncNow(redis: Redis, overrides: Partial<SyncDeps> = {}) {
  return applyDueChanges(syncDeps(redis, overrides));
}

/** Every hash under the snapshot's key patterns, as plain objects (for field-by-field comparison). */
export async function dumpSnapshot(redis: Redis): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const pattern of ['auth:*', 'config:*', 'meta:*']) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      for (const key of keys) {
        if ((await redis.type(key)) === 'hash') out[key] = await redis.hgetall(key);
      }
    } while (cursor !== '0');
  }
  return out;
}
