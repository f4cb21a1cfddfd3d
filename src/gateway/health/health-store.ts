import type { KeyHealth } from './health-view.js';

export type StateStoreBackend = 'memory' | 'redis';

/**
 * Health of upstream keys: circuit breakers, 429 cool-downs and bans. Reads are synchronous and
 * never touch the network (they sit on the hot path); writes update the local view at once and,
 * for the Redis store, are shared with every gateway in the background.
 * `nowMs` defaults to the store's clock.
 */
export interface HealthStore {
  readonly backend: StateStoreBackend;
  /** Whether the key may be chosen now: not banned, not cooling down, breaker closed or probe free. */
  isAvailable(keyId: number, nowMs?: number): boolean;
  /**
   * Call just before sending to the chosen key: false when it is no longer available, or when it
   * is half-open and another request already holds the one probe (pick another key).
   */
  tryAcquire(keyId: number, nowMs?: number): boolean;
  /** A claimed probe ended without a verdict (client abort): free it now. Local, like the claim. */
  release(keyId: number, nowMs?: number): void;
  /** Records an outcome for the breaker (see classifyUpstream: only `success`/`failure` belong here). */
  record(keyId: number, ok: boolean, nowMs?: number): void;
  /** Keeps the key out of rotation for `ms` (an upstream 429's Retry-After). */
  coolDown(keyId: number, ms: number, nowMs?: number): Promise<void>;
  /** Bans the key until `untilMs` (Infinity = until unbanned), e.g. on 401/403 with auto_ban. */
  ban(keyId: number, reason: string, untilMs: number): Promise<void>;
  /** Lifts a ban (an admin re-enabled the key). */
  unban(keyId: number): Promise<void>;
  inspect(keyId: number, nowMs?: number): KeyHealth;
  /** Listens for any change of a key's health, local or learnt from another gateway. */
  onChange(listener: (keyId: number) => void): () => void;
  /** Loads shared state and starts listening (no-op for memory). */
  start(): Promise<void>;
  /** Waits until every pending write has reached Redis (or failed). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Reads the `dp_state_store_backend` feature flag; anything but `redis` means `memory`. */
export function parseStateStoreBackend(value: string | undefined | null): StateStoreBackend {
  return value?.trim().toLowerCase() === 'redis' ? 'redis' : 'memory';
}
