import type { AdmitRequest, AdmitResult, LimitReason, Reservation } from './limit-types.js';
import {
  QPS_WINDOW_MS,
  RPM_WINDOW_MS,
  chargeFor,
  logCutoff,
  logDecision,
  logRetryAfterMs,
  oldestLiveBucket,
  tokenBucketOf,
  tokenDecision,
  type TokenBucket,
} from './window.js';

/**
 * The limiter's algorithms in process memory, used while Redis is unreachable (failure mode
 * `local`): the same windows and the same answers as the Lua script, but per process, so N
 * gateways admit up to N× a limit until Redis is back. State is dropped when Redis recovers.
 */
export class LocalLimiter {
  private readonly logs = new Map<string, number[]>();
  private readonly tokens = new Map<number, Map<number, number>>();

  admit(req: AdmitRequest, member: string, nowMs: number): AdmitResult {
    const charge = chargeFor(req.estimatedTokens, req.keyTpm);
    const qpsKey = `m:${req.masterId}`;
    const rpmKey = `k:${req.keyId}`;
    const refusals: Array<{ reason: LimitReason; retryAfterMs: number; limit: number }> = [];

    const qps = req.masterQps > 0 ? this.trimmed(qpsKey, nowMs, QPS_WINDOW_MS) : [];
    if (req.masterQps > 0) {
      const d = logDecision(qps, req.masterQps, nowMs, QPS_WINDOW_MS);
      if (!d.admit) refusals.push({ reason: 'master_qps', limit: req.masterQps, retryAfterMs: logRetryAfterMs(d.blockingScoreMs, QPS_WINDOW_MS, nowMs) });
    }
    const rpm = req.keyRpm > 0 ? this.trimmed(rpmKey, nowMs, RPM_WINDOW_MS) : [];
    if (req.keyRpm > 0) {
      const d = logDecision(rpm, req.keyRpm, nowMs, RPM_WINDOW_MS);
      if (!d.admit) refusals.push({ reason: 'key_rpm', limit: req.keyRpm, retryAfterMs: logRetryAfterMs(d.blockingScoreMs, RPM_WINDOW_MS, nowMs) });
    }
    const bucket = tokenBucketOf(nowMs);
    if (req.keyTpm > 0) {
      const d = tokenDecision(this.bucketsOf(req.keyId, nowMs), charge, req.keyTpm, nowMs);
      if (!d.admit) refusals.push({ reason: 'key_tpm', limit: req.keyTpm, retryAfterMs: d.retryAfterMs });
    }
    const refusal = longestWait(refusals);
    if (refusal) return { ok: false, ...refusal };

    if (req.masterQps > 0) qps.push(nowMs);
    if (req.keyRpm > 0) rpm.push(nowMs);
    if (req.keyTpm > 0 && charge > 0) this.addTokens(req.keyId, bucket, charge);
    const reservation: Reservation = {
      requestId: req.requestId,
      masterId: req.masterId,
      keyId: req.keyId,
      member,
      atMs: nowMs,
      tpmBucket: req.keyTpm > 0 ? bucket : null,
      chargedTokens: charge,
      degraded: true,
    };
    return { ok: true, reservation };
  }

  settle(reservation: Reservation, actualTokens: number, nowMs: number): void {
    if (reservation.tpmBucket === null) return;
    const delta = Math.ceil(Math.max(0, actualTokens)) - reservation.chargedTokens;
    if (delta > 0) this.addTokens(reservation.keyId, tokenBucketOf(nowMs), delta);
    if (delta < 0 && reservation.tpmBucket >= oldestLiveBucket(nowMs)) {
      const buckets = this.tokens.get(reservation.keyId);
      const left = (buckets?.get(reservation.tpmBucket) ?? 0) + delta;
      if (left > 0) buckets?.set(reservation.tpmBucket, left);
      else buckets?.delete(reservation.tpmBucket);
    }
  }

  /** Forgets every window (Redis is authoritative again). */
  clear(): void {
    this.logs.clear();
    this.tokens.clear();
  }

  private trimmed(key: string, nowMs: number, windowMs: number): number[] {
    let log = this.logs.get(key);
    if (!log) {
      log = [];
      this.logs.set(key, log);
    }
    const cutoff = logCutoff(nowMs, windowMs);
    let first = 0;
    while (first < log.length && (log[first] ?? 0) <= cutoff) first++;
    if (first > 0) log.splice(0, first);
    return log;
  }

  private bucketsOf(keyId: number, nowMs: number): TokenBucket[] {
    const buckets = this.tokens.get(keyId);
    if (!buckets) return [];
    const oldest = oldestLiveBucket(nowMs);
    const live: TokenBucket[] = [];
    for (const [bucket, tokens] of buckets) {
      if (bucket < oldest) buckets.delete(bucket);
      else live.push([bucket, tokens]);
    }
    return live;
  }

  private addTokens(keyId: number, bucket: number, tokens: number): void {
    let buckets = this.tokens.get(keyId);
    if (!buckets) {
      buckets = new Map();
      this.tokens.set(keyId, buckets);
    }
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + tokens);
  }
}

/** Of several refused checks, the one the client must wait longest for (its Retry-After covers all). */
export function longestWait<T extends { retryAfterMs: number }>(refusals: readonly T[]): T | undefined {
  let worst: T | undefined;
  for (const r of refusals) if (!worst || r.retryAfterMs > worst.retryAfterMs) worst = r;
  return worst;
}
