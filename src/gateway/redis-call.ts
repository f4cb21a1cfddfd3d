import type { Redis } from 'ioredis';

/** Runs `operation` against Redis only when connected, bounded by timeoutMs; else rejects. */
export async function redisCall<T>(redis: Redis, timeoutMs: number, operation: () => Promise<T>): Promise<T> {
  // A gateway connection may queue commands while offline: do not wait for a reconnect.
  if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      operation(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
