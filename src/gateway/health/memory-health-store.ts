import { randomBytes } from 'node:crypto';
import { DEFAULT_BREAKER_CONFIG, type BreakerConfig } from './breaker.js';
import type { HealthStore, StateStoreBackend } from './health-store.js';
import { HealthView, type HealthChange, type KeyHealth } from './health-view.js';

export interface HealthStoreOptions {
  /** Clock in ms (default Date.now). */
  clock?: () => number;
  breaker?: Partial<BreakerConfig>;
}

/**
 * Health kept in this process only (`dp_state_store_backend = memory`): each gateway learns on its
 * own. Also the base of RedisHealthStore, which shares what `share` is given.
 */
export class MemoryHealthStore implements HealthStore {
  readonly backend: StateStoreBackend = 'memory';
  protected readonly clock: () => number;
  protected readonly view: HealthView;
  private readonly listeners = new Set<(keyId: number) => void>();

  constructor(options: HealthStoreOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.view = new HealthView(randomBytes(8).toString('hex'), { ...DEFAULT_BREAKER_CONFIG, ...options.breaker });
  }

  isAvailable(keyId: number, nowMs = this.clock()): boolean {
    return this.view.isAvailable(keyId, nowMs);
  }

  tryAcquire(keyId: number, nowMs = this.clock()): boolean {
    return this.view.tryAcquire(keyId, nowMs);
  }

  release(keyId: number, nowMs = this.clock()): void {
    this.view.release(keyId, nowMs);
  }

  record(keyId: number, ok: boolean, nowMs = this.clock()): void {
    const change = this.view.record(keyId, ok, nowMs);
    if (change) this.changed(change, true);
  }

  async coolDown(keyId: number, ms: number, nowMs = this.clock()): Promise<void> {
    if (!(ms > 0)) return;
    const change = this.view.coolDown(keyId, nowMs + ms);
    if (change) await this.changed(change, true);
  }

  async ban(keyId: number, reason: string, untilMs: number): Promise<void> {
    const change = this.view.ban(keyId, reason, Number.isFinite(untilMs) ? untilMs : null, this.clock());
    await this.changed(change, true);
  }

  async unban(keyId: number): Promise<void> {
    await this.changed(this.view.unban(keyId, this.clock()), true);
  }

  inspect(keyId: number, nowMs = this.clock()): KeyHealth {
    return this.view.inspect(keyId, nowMs);
  }

  onChange(listener: (keyId: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {}

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** Notifies listeners; for local changes also shares them (the returned promise is the write). */
  protected changed(change: HealthChange, local: boolean): Promise<void> {
    for (const listener of this.listeners) listener(change.keyId);
    return local ? this.share(change) : Promise.resolve();
  }

  /** Memory store: nothing to share. */
  protected share(_change: HealthChange): Promise<void> {
    return Promise.resolve();
  }
}
