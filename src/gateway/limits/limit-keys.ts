/**
 * Redis keys written by the limiter (docs/limits.md lists them with their types and TTLs). `prefix`
 * is prepended to every key (tests use a unique one; production uses '').
 */
export const LimitKeys = {
  /** Sorted set: admission member → time (ms); the master's 1 s QPS log. TTL 2 s. */
  masterQps: (prefix: string, masterId: number) => `${prefix}rl:master:${masterId}:qps`,
  /** Sorted set: admission member → time (ms); the key's 60 s RPM log. TTL 61 s. */
  keyRpm: (prefix: string, keyId: number) => `${prefix}rl:key:${keyId}:rpm`,
  /** Hash: 1 s bucket (epoch second) → tokens; the key's TPM window. TTL 62 s. */
  keyTpm: (prefix: string, keyId: number) => `${prefix}rl:key:${keyId}:tpm`,
  /** Integer: requests admitted by every gateway in one epoch second. */
  statsRequests: (prefix: string, second: number) => `${prefix}stats:rps:${second}`,
  /** Integer: requests admitted for one master in one epoch second. */
  statsMasterRequests: (prefix: string, masterId: number, second: number) => `${prefix}stats:rps:master:${masterId}:${second}`,
  /** Integer: actual tokens settled in one epoch second. */
  statsTokens: (prefix: string, second: number) => `${prefix}stats:tps:${second}`,
  /** Integer: actual tokens settled for one master in one epoch second. */
  statsMasterTokens: (prefix: string, masterId: number, second: number) => `${prefix}stats:tps:master:${masterId}:${second}`,
  /** Integer: requests refused by a limit in one epoch second. */
  statsLimited: (prefix: string, second: number) => `${prefix}stats:limited:${second}`,
  /** Integer: requests of one master refused by a limit in one epoch second. */
  statsMasterLimited: (prefix: string, masterId: number, second: number) => `${prefix}stats:limited:master:${masterId}:${second}`,
} as const;

/** How long the per-second stats counters live (s): long enough for a 1-minute realtime view. */
export const STATS_TTL_SECONDS = 120;
