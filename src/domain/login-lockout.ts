import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LoginFailurePolicy } from '../db/admins.repository.js';

/**
 * Login lockout (docs/admins.md): 5 consecutive failed logins lock a name for 15 minutes; a
 * failure more than a day after the previous one starts the count again. Admins keep their count
 * in their row; names that are no admin keep the very same count in Redis, so a lock can never
 * tell an attacker whether a name exists.
 */

export const LOGIN_LOCKOUT: LoginFailurePolicy = { maxFailures: 5, lockMs: 15 * 60_000, memoryMs: 24 * 60 * 60_000 };

/** Whole seconds until the lock ends (≥ 1), or undefined when not locked at `now`. */
export function lockRemainingSeconds(lockedUntil: Date | null | undefined, now: Date): number | undefined {
  if (!lockedUntil || lockedUntil.getTime() <= now.getTime()) return undefined;
  return Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1_000));
}

/** Failure counts of names that are no admin. */
export interface UnknownNameLockout {
  /** When the name's lock ends, or null when it is not locked (or the store cannot say). */
  lockedUntil(name: string): Promise<Date | null>;
  /** Counts one failure; returns when the name is now locked until, or null. */
  recordFailure(name: string, policy: LoginFailurePolicy, now: Date): Promise<Date | null>;
}

/** `count`, `last` (ms) and `locked_until` (ms, 0 = none) of one name, forgotten after `memoryMs`. */
const RECORD_FAILURE = `
local v = redis.call('HMGET', KEYS[1], 'count', 'last', 'locked_until')
local now, max, lock, memory = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local count, last, locked = tonumber(v[1]) or 0, tonumber(v[2]), tonumber(v[3]) or 0
if last == nil or last < now - memory then count = 1 else count = count + 1 end
if count >= max then locked = now + lock; count = 0 end
redis.call('HSET', KEYS[1], 'count', count, 'last', now, 'locked_until', locked)
redis.call('PEXPIRE', KEYS[1], math.max(memory, locked - now))
return locked`;

const keyOf = (name: string): string => `admin-login:unknown:${createHash('sha256').update(name.toLowerCase()).digest('hex')}`;

/**
 * The Redis store of unknown names' failures (keys expire after the policy's memory). A Redis
 * error is reported to `onError` and counts as "not locked": login keeps answering 401.
 */
export function redisUnknownNameLockout(redis: Redis, onError: (err: unknown) => void = () => {}): UnknownNameLockout {
  return {
    async lockedUntil(name) {
      try {
        const ms = Number(await redis.hget(keyOf(name), 'locked_until'));
        return ms > 0 ? new Date(ms) : null;
      } catch (err) {
        onError(err);
        return null;
      }
    },
    async recordFailure(name, policy, now) {
      try {
        const ms = Number(await redis.eval(RECORD_FAILURE, 1, keyOf(name), now.getTime(), policy.maxFailures, policy.lockMs, policy.memoryMs));
        return ms > now.getTime() ? new Date(ms) : null;
      } catch (err) {
        onError(err);
        return null;
      }
    },
  };
}
