import type { ChainableCommander, Redis } from 'ioredis';
import type { LuaScript } from './lua-script.js';

/**
 * Lua script calls sent several at a time in one Redis pipeline: one socket write (and usually one
 * read) for all of them instead of one per call. The after-response batch (settles) and the
 * admission batch share these two steps, so NOSCRIPT and per-call errors are handled alike.
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

/**
 * Script calls made during one turn of the event loop, sent together when it ends (setImmediate:
 * after the I/O callbacks of this turn, before the next wait for I/O), so concurrent requests that
 * became ready together share one write. Nothing waits on a timer: a lone call leaves in the same
 * turn, as a plain EVALSHA (a one-command pipeline costs more than the call itself).
 */
export function createTurnScriptBatch(redis: Redis, options: { maxScripts?: number } = {}): ScriptRunner {
  const maxScripts = options.maxScripts ?? 256;
  let queued: QueuedScript[] = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batch = queued;
    queued = [];
    if (batch.length === 0) return;
    if (batch.length === 1) {
      const only = batch[0]!;
      only.script.run(redis, only.keys, only.args).then(only.resolve, only.reject);
      return;
    }
    const pipeline = redis.pipeline();
    queueScripts(pipeline, batch);
    pipeline.exec().then(
      (replies) => settleScripts(redis, batch, replies),
      (err: unknown) => {
        for (const q of batch) q.reject(err);
      },
    );
  }

  return (script, keys, args) =>
    new Promise((resolve, reject) => {
      queued.push({ script, keys, args, resolve, reject });
      if (queued.length >= maxScripts) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
