import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { providerEventJobId } from '../../../jobs/provider-events/definition.js';
import { unauthorizedJobId } from '../../../jobs/token-refresh/definition.js';
import { enqueue, type QueueSet } from '../../../jobs/queues.js';
import type { Logger } from '../../lib/logger.js';
import type { HealthStore } from '../health/index.js';
import { createLimiter } from '../limits/index.js';
import { queueUpstreamCounters, type AfterResponseBatch } from './after-response-batch.js';
import type { HealthPort, LimitsPort, ProviderEventsPort, UpstreamStatsPort } from './ports.js';

/**
 * Adapters from the engine's narrow ports to the real parts: the Redis limiter, the health store
 * picked by `dp_state_store_backend`, and the provider-events queue.
 */

export function limitsPort(redis: Redis, onError: (err: unknown) => void, batch?: AfterResponseBatch): LimitsPort {
  const limiter = createLimiter(redis, { onError, ...(batch ? { runSettle: batch.script } : {}) });
  return {
    async admit(request) {
      const result = await limiter.admit(request);
      if (!result.ok) return result;
      return { ok: true, settle: (tokens, spend) => limiter.settle(result.reservation, tokens, spend) };
    },
  };
}

/** A ban the gateway imposes itself lasts until the control plane's own status takes over. */
const LOCAL_BAN_MS = 10 * 60_000;

export function healthPort(store: HealthStore, log: Logger): HealthPort {
  const report = (what: string) => (err: unknown) => log.warn({ err: { message: (err as Error).message } }, `health store: ${what} failed`);
  return {
    isAvailable: (id, nowMs) => store.isAvailable(id, nowMs),
    // tryAcquire claims a free half-open probe; when it refuses, only a half-open breaker (probe
    // already out) means "skip": cooling, banned and open keys remain the planner's last resort.
    acquire: (id, nowMs) => store.tryAcquire(id, nowMs) || store.inspect(id, nowMs).breaker !== 'half_open',
    release: (id, nowMs) => store.release(id, nowMs),
    recordSuccess: (id, nowMs) => store.record(id, true, nowMs),
    recordFailure: (id, nowMs) => store.record(id, false, nowMs),
    coolDown: (id, untilMs) => void store.coolDown(id, Math.max(0, untilMs - Date.now())).catch(report('cool down')),
    ban: (id, reason, untilMs) => void store.ban(id, reason, untilMs ?? Date.now() + LOCAL_BAN_MS).catch(report('ban')),
  };
}

/** A quota refusal is reported at most once per subject per this long, per gateway process. */
export const QUOTA_REPORT_INTERVAL_MS = 60_000;

export function providerEventsPort(queues: QueueSet, log: Logger): ProviderEventsPort {
  // Subjects reported recently (`key:<id>`, `master:<id>`): every refused request would otherwise enqueue a job.
  const quotaReported = new LRUCache<string, true>({ max: 10_000, ttl: QUOTA_REPORT_INTERVAL_MS });
  return {
    autoBan(event) {
      const payload = {
        type: 'auto_ban' as const,
        api_key_id: event.apiKeyId,
        reason: event.reason,
        until: event.until,
        status_code: event.statusCode,
        at: event.at,
      };
      enqueue(queues, 'provider-events', payload, { jobId: providerEventJobId(payload) }).catch((err: unknown) =>
        log.warn({ err: { message: (err as Error).message }, apiKeyId: event.apiKeyId }, 'could not report an auto-ban; the gateway still avoids the key'),
      );
    },
    oauthUnauthorized(event) {
      const payload = { type: 'refresh' as const, api_key_id: event.apiKeyId, reason: 'unauthorized' as const, requested_at: event.at };
      enqueue(queues, 'token-refresh', payload, { jobId: unauthorizedJobId(event.apiKeyId, Date.parse(event.at)) }).catch((err: unknown) =>
        log.warn({ err: { message: (err as Error).message }, apiKeyId: event.apiKeyId }, 'could not request an OAuth token refresh; the sweep renews it before expiry'),
      );
    },
    quotaExhausted(event) {
      const subject = `${event.subject}:${event.id}`;
      if (quotaReported.has(subject)) return;
      quotaReported.set(subject, true);
      const payload = { type: 'quota_exhausted' as const, subject: event.subject, id: event.id, spent_micros: Math.max(0, Math.round(event.spentMicros)), at: event.at };
      enqueue(queues, 'provider-events', payload, { jobId: providerEventJobId(payload) }).catch((err: unknown) => {
        quotaReported.delete(subject); // let the next refusal try again
        log.warn({ err: { message: (err as Error).message }, subject: event.subject, id: event.id }, 'could not report an exhausted quota; the gateway still refuses');
      });
    },
  };
}

/**
 * Per upstream key counters (docs/control-plane.md "Stats"): HINCRBY of each counter,
 * last_used_ms, and the key's id into the dirty set the `stats` job drains. Never awaited; a
 * failure only loses these counters (logged). With a batch (the gateway), counters of concurrent
 * requests are summed and sent with the settles in one pipeline; without one, one pipeline each.
 */
export function upstreamStatsPort(redis: Redis, log: Logger, prefix = '', batch?: AfterResponseBatch): UpstreamStatsPort {
  let lastWarning = 0;
  return {
    record(usage, atMs) {
      if (usage.length === 0) return;
      if (batch) return batch.upstream(usage, atMs);
      const pipeline = redis.pipeline();
      for (const entry of usage) queueUpstreamCounters(pipeline, prefix, entry, atMs);
      pipeline.exec().catch((err: unknown) => {
        if (Date.now() - lastWarning < 5_000) return;
        lastWarning = Date.now();
        log.warn({ err: { message: (err as Error).message } }, 'could not record upstream key counters');
      });
    },
  };
}
