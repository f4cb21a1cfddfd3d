import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script run with EVALSHA, falling back to EVAL (which also loads it into the script cache)
 * when the server answers NOSCRIPT — after a restart, a failover or SCRIPT FLUSH. One round trip in
 * the steady state, two only on the first call after the cache was emptied.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /** Loads the script ahead of the first request (optional: `run` loads it on demand). */
  async load(redis: Redis): Promise<void> {
    await redis.script('LOAD', this.source);
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOSCRIPT');
}
