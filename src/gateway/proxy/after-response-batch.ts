import type { ChainableCommander, Redis } from 'ioredis';
import type { LuaScript } from '../limits/lua-script.js';
import { queueScripts, settleScripts, type QueuedScript } from '../limits/script-pipeline.js';
import { UPSTREAM_MINUTE_TTL_SECONDS, UpstreamStatsKeys } from '../../lib/stats-keys.js';
import type { UpstreamKeyUsage } from './ports.js';

/**
 * The Redis writes a proxied request makes after its response — the limiter's settle script and
 * the per upstream key counters — gathered for a few milliseconds and sent as ONE pipeline
 * (bench/RESULTS.md: one socket write per request each was about a fifth of the gateway's CPU
 * under load). Upstream key counters are summed in memory, so a flush sends one HINCRBY per key
 * and field however many requests it covers. Nothing here is on the latency path: the response
 * has already ended when these are queued.
 *
 * Ordering: scripts run in the order queued; a settle never races its own admission (that one
 * finished before the upstream call). A flush that fails is reported to `onError` and only loses
 * those corrections and counters, as a failed single call did before.
 */
export interface AfterResponseBatch {
  /** Queues one script call; resolves with its reply (rejects with its error) after the flush. */
  script(script: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>;
  /** Adds per upstream key counters (summed until the flush). */
  upstream(usage: readonly UpstreamKeyUsage[], atMs: number): void;
  /** Sends what is queued now. */
  flush(): Promise<void>;
  /** Flushes and stops accepting work (gateway shutdown). */
  close(): Promise<void>;
}

export interface AfterResponseBatchOptions {
  /** Longest a queued write waits, ms (default 5). */
  flushMs?: number;
  /** Queued script calls that trigger an immediate flush (default 256). */
  maxScripts?: number;
  /** Key prefix of the counters ('' in production). */
  prefix?: string;
  onError?: (err: unknown) => void;
}

/** The commands that add one upstream key's counters (the `stats` job drains them). */
export function queueUpstreamCounters(pipeline: ChainableCommander, prefix: string, entry: UpstreamKeyUsage, atMs: number): void {
  const key = UpstreamStatsKeys.apiKey(prefix, entry.apiKeyId);
  const minute = UpstreamStatsKeys.minute(prefix, Math.floor(atMs / 60_000));
  pipeline.hincrby(minute, `${entry.apiKeyId}:requests`, entry.requests);
  if (entry.faults > 0) pipeline.hincrby(minute, `${entry.apiKeyId}:faults`, entry.faults);
  pipeline.expire(minute, UPSTREAM_MINUTE_TTL_SECONDS);
  pipeline.hincrby(key, 'requests', entry.requests);
  if (entry.success > 0) pipeline.hincrby(key, 'success', entry.success);
  if (entry.failure > 0) pipeline.hincrby(key, 'failure', entry.failure);
  if (entry.tokens > 0) pipeline.hincrby(key, 'tokens', entry.tokens);
  pipeline.hset(key, 'last_used_ms', String(Math.round(atMs)));
  pipeline.sadd(UpstreamStatsKeys.dirty(prefix), String(entry.apiKeyId));
}

interface Counters {
  requests: number;
  success: number;
  failure: number;
  faults: number;
  tokens: number;
  lastUsedMs: number;
}

export function createAfterResponseBatch(redis: Redis, options: AfterResponseBatchOptions = {}): AfterResponseBatch {
  const flushMs = options.flushMs ?? 5;
  const maxScripts = options.maxScripts ?? 256;
  const prefix = options.prefix ?? '';
  const onError = options.onError ?? (() => {});
  let scripts: QueuedScript[] = [];
  let counters = new Map<number, Counters>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  function schedule(): void {
    if (timer || closed) return;
    timer = setTimeout(() => void flush(), flushMs);
    timer.unref();
  }

  async function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = scripts;
    const stats = counters;
    if (batch.length === 0 && stats.size === 0) return;
    scripts = [];
    counters = new Map();
    const pipeline = redis.pipeline();
    queueScripts(pipeline, batch);
    for (const [apiKeyId, c] of stats) queueUpstreamCounters(pipeline, prefix, { apiKeyId, ...c }, c.lastUsedMs);
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      for (const q of batch) q.reject(err);
      onError(err);
      return;
    }
    let countersFailed: Error | undefined;
    for (let i = batch.length; i < (replies?.length ?? 0); i++) countersFailed ??= replies?.[i]?.[0] ?? undefined;
    if (countersFailed) onError(countersFailed);
    await settleScripts(redis, batch, replies);
  }

  return {
    script(script, keys, args) {
      if (closed) return script.run(redis, keys, args);
      return new Promise((resolve, reject) => {
        scripts.push({ script, keys, args, resolve, reject });
        if (scripts.length >= maxScripts) void flush();
        else schedule();
      });
    },
    upstream(usage, atMs) {
      if (usage.length === 0) return;
      for (const u of usage) {
        const c = counters.get(u.apiKeyId) ?? { requests: 0, success: 0, failure: 0, faults: 0, tokens: 0, lastUsedMs: 0 };
        c.requests += u.requests;
        c.success += u.success;
        c.failure += u.failure;
        c.faults += u.faults;
        c.tokens += u.tokens;
        c.lastUsedMs = Math.max(c.lastUsedMs, atMs);
        counters.set(u.apiKeyId, c);
      }
      if (closed) void flush();
      else schedule();
    },
    flush,
    async close() {
      closed = true;
      await flush();
    },
  };
}
