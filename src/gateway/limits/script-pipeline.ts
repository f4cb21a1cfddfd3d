import type { ChainableCommander, Redis } from 'ioredis';
import type { LuaScript } from './lua-script.js';

/**
 * Lua script calls sent several at a time in one Redis pipeline: one socket write (and usually one
 * read) for all of them instead of one per call (the after-response batch: settles and counters).
 * A per-event-loop-turn batch of admissions was tried and removed: no measurable CPU gain at 32
 * connections and ~10 MB more RSS (bench/RESULTS.md "profile-and-gaps").
 */
export interface QueuedScript {
  script: LuaScript;
  keys: readonly string[];
  args: ReadonlyArray<string | number>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Adds each queued call to the pipeline as EVALSHA, in order (their replies come first). */
export function queueScripts(pipeline: ChainableCommander, batch: readonly QueuedScript[]): void {
  for (const q of batch) pipeline.evalsha(q.script.sha, q.keys.length, ...q.keys, ...q.args);
}

/**
 * Settles every queued call from the pipeline's replies (the first `batch.length` of them). A call
 * the server answered NOSCRIPT (Redis restarted, SCRIPT FLUSH) runs again alone, which loads it.
 */
export async function settleScripts(redis: Redis, batch: readonly QueuedScript[], replies: Array<[Error | null, unknown]> | null): Promise<void> {
  await Promise.all(
    batch.map(async (q, i) => {
      const [err, reply] = replies?.[i] ?? [new Error('no reply in the pipeline'), undefined];
      if (!err) return q.resolve(reply);
      if (err.message.includes('NOSCRIPT')) {
        try {
          q.resolve(await q.script.run(redis, q.keys, q.args));
        } catch (retryErr) {
          q.reject(retryErr);
        }
        return;
      }
      q.reject(err);
    }),
  );
}

export type ScriptRunner = (script: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>) => Promise<unknown>;
