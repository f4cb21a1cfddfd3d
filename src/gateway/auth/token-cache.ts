import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { hasBudgets, parseBudgets, type Budgets } from '../../lib/budgets.js';
import { RedisKeys, type TokenRecord } from '../../lib/redis-layout.js';
import { redisCall } from '../redis-call.js';

/** A child key's auth record (`auth:token:<digest>`), parsed once per cache fill. */
export interface TokenView {
  id: number;
  masterId: number;
  status: string;
  issuedAtEpoch: number;
  /** ms since epoch, or null for never. */
  expiresAt: number | null;
  group: string;
  scopes: readonly string[];
  namespaces: readonly string[];
  defaultNamespace: string;
  modelLimitsEnabled: boolean;
  modelLimits: readonly string[];
  allowIps: readonly string[];
  /** Lifetime quota, µ$ of actual cost; -1 = unlimited. */
  quotaLimit: number;
  /** µ$ spent as PostgreSQL knows it: the floor of the live Redis counter. */
  quotaUsed: number;
  budgets: Budgets;
  /** A quota or a budget applies: requests of this key reserve spend at admission. */
  spendLimited: boolean;
  rpmLimit: number;
  tpmLimit: number;
}

function list(value: string | undefined): string[] {
  try {
    const parsed = JSON.parse(value ?? '[]') as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}

export function parseToken(record: Partial<TokenRecord>): TokenView | undefined {
  const id = Number(record.id);
  const masterId = Number(record.master_id);
  if (!Number.isSafeInteger(id) || !Number.isSafeInteger(masterId)) return undefined;
  const expires = record.expires_at ? Date.parse(record.expires_at) : NaN;
  const quotaLimit = quotaOf(record.quota_limit);
  const budgets = parseBudgets(record.budgets);
  return {
    id,
    masterId,
    status: record.status ?? 'disabled',
    issuedAtEpoch: Number(record.issued_at_epoch ?? 0),
    expiresAt: Number.isFinite(expires) ? expires : null,
    group: record.group ?? '',
    scopes: list(record.scopes),
    namespaces: list(record.namespaces),
    defaultNamespace: record.default_namespace ?? '',
    modelLimitsEnabled: record.model_limits_enabled === '1',
    modelLimits: list(record.model_limits),
    allowIps: list(record.allow_ips),
    quotaLimit,
    quotaUsed: usedOf(record.quota_used),
    budgets,
    spendLimited: quotaLimit >= 0 || hasBudgets(budgets),
    rpmLimit: Number(record.rpm_limit ?? 0),
    tpmLimit: Number(record.tpm_limit ?? 0),
  };
}

/** A quota field (µ$): an integer ≥ 0, anything else (missing, -1, garbage) is unlimited. */
export function quotaOf(value: string | undefined): number {
  const n = Number(value ?? -1);
  return value !== undefined && value !== '' && Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

/** A quota_used field (µ$): an integer ≥ 0, else 0. */
export function usedOf(value: string | undefined): number {
  const n = Number(value ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

const MISSING = Symbol('missing');
type Entry = TokenView | typeof MISSING;

export interface TokenCacheOptions {
  /** Entries kept (default 100,000: every key of a large deployment). */
  max?: number;
  /** Safety TTL for found keys (ms); refresh messages invalidate sooner. Default 5 min. */
  ttlMs?: number;
  /** TTL for unknown digests, so a flood of bad keys costs one lookup each per window. Default 5 s. */
  missingTtlMs?: number;
  /** Bound on a Redis read; past it the request is answered 503 instead of hanging. Default 1 s. */
  redisTimeoutMs?: number;
}

/**
 * Digest → auth record, cached in process and invalidated by `dp:config:refresh` (the replica
 * calls `invalidate`). Concurrent misses for one digest share a single Redis read.
 */
export class TokenCache {
  private readonly cache: LRUCache<string, Entry>;
  private readonly pending = new Map<string, Promise<TokenView | undefined>>();
  private generation = 0;
  private readonly missingTtlMs: number;
  private readonly redisTimeoutMs: number;

  constructor(
    private readonly redis: Redis,
    options: TokenCacheOptions = {},
  ) {
    this.cache = new LRUCache<string, Entry>({ max: options.max ?? 100_000, ttl: options.ttlMs ?? 300_000 });
    this.missingTtlMs = options.missingTtlMs ?? 5_000;
    this.redisTimeoutMs = options.redisTimeoutMs ?? 1_000;
  }

  /** The record for a digest; rejects only when Redis cannot be read. */
  async get(digest: string): Promise<TokenView | undefined> {
    const hit = this.cache.get(digest);
    if (hit !== undefined) return hit === MISSING ? undefined : hit;
    let load = this.pending.get(digest);
    if (!load) {
      const generation = this.generation;
      load = redisCall(this.redis, this.redisTimeoutMs, () => this.redis.hgetall(RedisKeys.token(digest)))
        .then((record) => {
          const token = Object.keys(record).length === 0 ? undefined : parseToken(record);
          // An invalidation that arrived while reading wins: do not cache what may be stale.
          if (generation === this.generation) {
            this.cache.set(digest, token ?? MISSING, token ? {} : { ttl: this.missingTtlMs });
          }
          return token;
        })
        .finally(() => this.pending.delete(digest));
      this.pending.set(digest, load);
    }
    return load;
  }

  /** Drops one digest, or everything when undefined. */
  invalidate(digest: string | undefined): void {
    this.generation++;
    if (digest === undefined) this.cache.clear();
    else this.cache.delete(digest);
  }

  get size(): number {
    return this.cache.size;
  }
}
