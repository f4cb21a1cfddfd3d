import type { Redis } from 'ioredis';
import { parseStateStoreBackend, type HealthStore } from './health-store.js';
import { MemoryHealthStore, type HealthStoreOptions } from './memory-health-store.js';
import { RedisHealthStore, type RedisHealthStoreOptions } from './redis-health-store.js';

export * from './breaker.js';
export { parseStateStoreBackend, type HealthStore, type StateStoreBackend } from './health-store.js';
export type { HealthChange, KeyHealth, SharedBan, SharedBreaker } from './health-view.js';
export { MemoryHealthStore, type HealthStoreOptions } from './memory-health-store.js';
export { HealthKeys, RedisHealthStore, type RedisHealthStoreOptions } from './redis-health-store.js';

export interface CreateHealthStoreOptions extends HealthStoreOptions, Partial<Omit<RedisHealthStoreOptions, 'redis'>> {
  /** Value of the `dp_state_store_backend` feature flag (`memory` | `redis`; default memory). */
  backend: string | undefined;
  /** Required for the redis backend. */
  redis?: Redis;
}

/**
 * Picks the store named by `dp_state_store_backend`. The flag is read at start-up; a gateway
 * switches backend on restart (a live switch would drop every breaker's history). Call `start()`.
 */
export function createHealthStore(options: CreateHealthStoreOptions): HealthStore {
  const backend = parseStateStoreBackend(options.backend);
  if (backend === 'memory') return new MemoryHealthStore(options);
  if (!options.redis) throw new Error('dp_state_store_backend=redis needs a Redis connection');
  return new RedisHealthStore({ ...options, redis: options.redis });
}
