import type { Redis } from 'ioredis';
import type { KeyDigester } from '../../lib/key-digest.js';
import { gatewayErrors } from '../errors.js';

/** Redis hash the control plane writes per client key (DESIGN §5): `auth:token:<digest>`. */
export const AUTH_TOKEN_KEY_PREFIX = 'auth:token:';

/** The fields of `auth:token:<digest>` as stored; their meaning is the sync worker's contract. */
export type AuthRecord = Record<string, string>;

/** Our keys are short printable ASCII; anything else cannot match and costs no Redis round trip. */
const PLAUSIBLE_KEY = /^[\x21-\x7e]{8,512}$/;

export interface AuthenticatorOptions {
  redis: Redis;
  digester: KeyDigester;
  /** Bound on the Redis lookup; past it the request gets 503 instead of hanging. */
  timeoutMs: number;
}

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

/**
 * Looks a client key up by digest. Every refusal is the same 401 ("Invalid API key") whatever
 * failed; Redis trouble is a 503, never a 401, so an outage does not look like a revoked key.
 * TODO(gateway issue): in-process LRU invalidated by dp:config:refresh, epoch, expiry, IPs, scopes.
 */
export function createAuthenticator(options: AuthenticatorOptions): (key: string) => Promise<AuthRecord> {
  const { redis, digester, timeoutMs } = options;
  return async (key) => {
    if (!PLAUSIBLE_KEY.test(key)) throw gatewayErrors.invalidApiKey();
    const redisKey = `${AUTH_TOKEN_KEY_PREFIX}${digester.digest(key)}`;
    let record: AuthRecord;
    try {
      record = await redisCall(redis, timeoutMs, () => redis.hgetall(redisKey));
    } catch (err) {
      throw gatewayErrors.unavailable(err);
    }
    if (Object.keys(record).length === 0) throw gatewayErrors.invalidApiKey();
    // A record the control plane marked anything but active is refused like an unknown key.
    if (record.status !== undefined && record.status !== 'active') throw gatewayErrors.invalidApiKey();
    return record;
  };
}
