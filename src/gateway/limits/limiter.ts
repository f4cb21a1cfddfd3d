import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LimitKeys, STATS_TTL_SECONDS } from './limit-keys.js';
import {
  LimiterUnavailableError,
  type AdmitRequest,
  type AdmitResult,
  type RedisFailureMode,
  type Refusal,
  type Reservation,
  type SpendActual,
  type SpendRequest,
} from './limit-types.js';
import { LocalLimiter, longestWait } from './local-limiter.js';
import type { ScriptRunner } from './script-pipeline.js';
import { admitScript, settleScript } from './scripts.js';
import { periodKey, spendPlan, spendRefusals, type SpendPlan } from './spend.js';
import { UsageKeys } from '../../lib/budgets.js';
import { QPS_WINDOW_MS, RPM_WINDOW_MS, chargeFor, logRetryAfterMs, tokenRetryAfterMs, type TokenBucket } from './window.js';

export interface LimiterOptions {
  /** Prepended to every Redis key ('' by default; tests use a unique prefix). */
  prefix?: string;
  /**
   * Window clock in ms. Default: Redis server TIME, read inside the script, so every gateway uses
   * one clock. Injected (tests), the limiter sends this time with each call instead. The per-second
   * stats counters always use this clock or, by default, the process clock.
   */
  clock?: () => number;
  /** What to do when Redis fails (default `local`; see docs/limits.md). */
  onRedisFailure?: RedisFailureMode;
  /** Called with every Redis failure (wire it to a metric); the limiter itself never logs. */
  onError?: (err: unknown, operation: 'admit' | 'settle') => void;
  /** TTL of the `stats:*` per-second counters, s (default 120). */
  statsTtlSeconds?: number;
  /**
   * How settle scripts are sent (default: one call each). The gateway passes its after-response
   * batch so settles of concurrent requests share one pipeline (proxy/after-response-batch.ts).
   */
  runSettle?: ScriptRunner;
}

export interface Limiter {
  /**
   * Checks master QPS, key RPM and key TPM — and, when the request carries `spend`, the lifetime
   * quotas and periodic budgets of key and master — in one Redis round trip and, when all pass,
   * records the request in every window and reserves its spend atomically. A refused request is
   * written to no window or counter. Rejects only in failure mode `closed` (LimiterUnavailableError).
   */
  admit(req: AdmitRequest): Promise<AdmitResult>;
  /**
   * Corrects the TPM window by `actualTokens − charged` and counts the tokens for stats; with a
   * spend reservation, also moves the spent counters and budget windows by `actual − reserved`
   * (`spend` omitted = exactly as reserved). Never rejects (failures go to `onError`), so
   * `void limiter.settle(…)` is safe.
   */
  settle(reservation: Reservation, actualTokens: number, spend?: SpendActual): Promise<void>;
  /** Loads the scripts now instead of on the first request (optional). */
  warmUp(): Promise<void>;
  /** True while the last Redis call failed and decisions are local. */
  readonly degraded: boolean;
}

export function createLimiter(redis: Redis, options: LimiterOptions = {}): Limiter {
  const prefix = options.prefix ?? '';
  const clock = options.clock;
  const statsClock = clock ?? Date.now;
  const statsTtl = options.statsTtlSeconds ?? STATS_TTL_SECONDS;
  const failureMode = options.onRedisFailure ?? 'local';
  const onError = options.onError ?? (() => {});
  const runSettle: ScriptRunner = options.runSettle ?? ((script, keys, args) => script.run(redis, keys, args));
  const local = new LocalLimiter();
  // Log members must be unique across every gateway and request, whatever X-Request-ID a client
  // sends (a repeated id must not overwrite an entry and slip past the RPM log).
  const instance = randomBytes(6).toString('base64url');
  let sequence = 0;
  let degraded = false;

  function recovered(): void {
    if (!degraded) return;
    degraded = false;
    local.clear();
  }

  async function admit(req: AdmitRequest): Promise<AdmitResult> {
    const member = `${req.requestId}:${instance}:${(sequence++).toString(36)}`;
    const charge = chargeFor(req.estimatedTokens, req.keyTpm);
    const statsNow = statsClock();
    const second = Math.floor(statsNow / 1_000);
    const keys = [
      LimitKeys.masterQps(prefix, req.masterId),
      LimitKeys.keyRpm(prefix, req.keyId),
      LimitKeys.keyTpm(prefix, req.keyId),
      LimitKeys.statsRequests(prefix, second),
      LimitKeys.statsMasterRequests(prefix, req.masterId, second),
      LimitKeys.statsLimited(prefix, second),
      LimitKeys.statsMasterLimited(prefix, req.masterId, second),
    ];
    const args: Array<string | number> = [clock ? Math.floor(clock()) : '', member, limitArg(req.masterQps), limitArg(req.keyRpm), limitArg(req.keyTpm), charge, statsTtl];
    // Budget windows are calendar windows picked with the gateway clock (docs/budgets.md).
    const plan = hasSpend(req) ? spendPlan(prefix, req, statsNow) : undefined;
    if (plan) {
      keys.push(...plan.keys);
      args.push(...plan.args);
    }
    let reply: unknown;
    try {
      reply = await admitScript.run(redis, keys, args);
    } catch (err) {
      onError(err, 'admit');
      if (failureMode === 'closed') throw new LimiterUnavailableError({ cause: err });
      degraded = true;
      // Quotas and budgets are skipped while degraded (docs/budgets.md "Failure behaviour").
      if (failureMode === 'open') return { ok: true, reservation: unlimitedReservation(req, member, statsClock()) };
      return local.admit(req, member, Math.floor(clock ? clock() : Date.now()));
    }
    recovered();
    return decodeAdmit(reply, req, member, charge, plan, statsNow);
  }

  async function settle(reservation: Reservation, actualTokens: number, spend?: SpendActual): Promise<void> {
    const actual = Number.isFinite(actualTokens) ? Math.max(0, Math.ceil(actualTokens)) : 0;
    if (reservation.degraded) {
      local.settle(reservation, actual, Math.floor(clock ? clock() : Date.now()));
      return;
    }
    const reserved = reservation.spend;
    const costDelta = reserved && spend ? Math.max(0, Math.ceil(spend.costMicros)) - reserved.reservedMicros : 0;
    const tokensDelta = reserved && spend ? actual - reserved.reservedTokens : 0;
    const requestsDelta = reserved && spend && !spend.billed ? -1 : 0;
    const spendMoves = costDelta !== 0 || tokensDelta !== 0 || requestsDelta !== 0;
    // Nothing to correct and nothing to count: spare the round trip.
    if (actual === 0 && reservation.chargedTokens === 0 && !spendMoves) return;
    const second = Math.floor(statsClock() / 1_000);
    const keys = [
      LimitKeys.keyTpm(prefix, reservation.keyId),
      LimitKeys.statsTokens(prefix, second),
      LimitKeys.statsMasterTokens(prefix, reservation.masterId, second),
    ];
    const args: Array<string | number> = [clock ? Math.floor(clock()) : '', reservation.tpmBucket ?? '', reservation.chargedTokens, actual, statsTtl];
    if (reserved && spendMoves) {
      keys.push(
        UsageKeys.keySpent(prefix, reservation.keyId),
        UsageKeys.masterSpent(prefix, reservation.masterId),
        UsageKeys.dirtyKeys(prefix),
        UsageKeys.dirtyMasters(prefix),
        ...reserved.periods.map((p) => periodKey(prefix, reservation, p)),
      );
      args.push(reserved.subjects || '-', costDelta, tokensDelta, requestsDelta, reservation.keyId, reservation.masterId);
    }
    try {
      await runSettle(settleScript, keys, args);
    } catch (err) {
      onError(err, 'settle');
    }
  }

  return {
    admit,
    settle,
    async warmUp() {
      await Promise.all([admitScript.load(redis), settleScript.load(redis)]);
    },
    get degraded() {
      return degraded;
    },
  };
}

function limitArg(limit: number): number {
  return Number.isFinite(limit) && limit > 0 ? Math.floor(limit) : 0;
}

function hasSpend(req: AdmitRequest): req is AdmitRequest & { spend: SpendRequest } {
  return req.spend !== undefined;
}

function unlimitedReservation(req: AdmitRequest, member: string, nowMs: number): Reservation {
  return { requestId: req.requestId, masterId: req.masterId, keyId: req.keyId, member, atMs: nowMs, tpmBucket: null, chargedTokens: 0, degraded: true };
}

/**
 * Turns the admit script's reply into a result; Retry-After math happens here (window.ts, and the
 * budget windows' ends). A lifetime quota refusal wins over every other (waiting does not cure
 * it); otherwise the refusal with the longest wait is reported.
 */
export function decodeAdmit(reply: unknown, req: AdmitRequest, member: string, charge: number, plan?: SpendPlan, nowGatewayMs = Date.now()): AdmitResult {
  if (!Array.isArray(reply)) throw new TypeError('unexpected admit script reply');
  const n = reply.map((v) => Number(v));
  const nowMs = n[1] ?? 0;
  if (n[0] === 1) {
    const reservation: Reservation = {
      requestId: req.requestId,
      masterId: req.masterId,
      keyId: req.keyId,
      member,
      atMs: nowMs,
      tpmBucket: limitArg(req.keyTpm) > 0 ? Math.floor(nowMs / 1_000) : null,
      chargedTokens: charge,
      degraded: false,
    };
    if (plan && req.spend) {
      reservation.spend = {
        subjects: plan.subjects,
        reservedMicros: Math.max(0, Math.ceil(req.spend.estimatedMicros)),
        reservedTokens: Math.max(0, Math.ceil(req.spend.estimatedTokens)),
        periods: plan.periods.map(({ subject, period, bucket, endMs }) => ({ subject, period, bucket, endMs })),
      };
    }
    return { ok: true, reservation };
  }
  const refusals: Refusal[] = [];
  const qpsBlock = n[2] ?? -1;
  const rpmBlock = n[3] ?? -1;
  if (qpsBlock >= 0) refusals.push({ reason: 'master_qps', limit: limitArg(req.masterQps), retryAfterMs: logRetryAfterMs(qpsBlock, QPS_WINDOW_MS, nowMs) });
  if (rpmBlock >= 0) refusals.push({ reason: 'key_rpm', limit: limitArg(req.keyRpm), retryAfterMs: logRetryAfterMs(rpmBlock, RPM_WINDOW_MS, nowMs) });
  const hits = n[7] ?? 0;
  const bucketsFrom = 8 + hits * 2;
  if (n[4] === 1) {
    const buckets: TokenBucket[] = [];
    for (let i = bucketsFrom; i + 1 < n.length; i += 2) buckets.push([n[i] ?? 0, n[i + 1] ?? 0]);
    refusals.push({ reason: 'key_tpm', limit: limitArg(req.keyTpm), retryAfterMs: tokenRetryAfterMs(buckets, charge, limitArg(req.keyTpm), nowMs) });
  }
  if (plan && hasSpend(req)) {
    const spend = spendRefusals(req, plan.periods, n[5] ?? -1, n[6] ?? -1, n.slice(8, bucketsFrom), nowGatewayMs);
    if (spend.quota[0]) return { ok: false, ...spend.quota[0] };
    refusals.push(...spend.budgets);
  }
  const refusal = longestWait(refusals);
  if (!refusal) throw new TypeError('admit script refused without a reason');
  return { ok: false, ...refusal };
}
