import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';
import { hasBudgets, parseBudgets, type Budgets } from '../../lib/budgets.js';
import { quotaOf, usedOf } from '../auth/token-cache.js';
import { redisCall } from '../redis-call.js';
import {
  CONFIG_REFRESH_CHANNEL,
  RedisKeys,
  type BindingSnapshot,
  type MasterRecord,
  type ModelCapabilities,
  type ProviderSnapshot,
  type RefreshMessage,
} from '../../lib/redis-layout.js';

/**
 * The gateway's in-memory copy of the control plane's snapshot (DESIGN §5): providers, bindings,
 * implicit bindings, models, masters and feature flags, loaded at start, refreshed on
 * `dp:config:refresh` and — as a safety net for missed messages — whenever `config:version`
 * moves past what was loaded (checked every second). Reads on the request path are plain Map
 * lookups: no Redis round trip. Child-key records are not here (there can be 100,000): see
 * auth/token-cache.ts, which this replica tells about key changes.
 */
export interface ConfigSnapshot {
  version: number;
  providers: ReadonlyMap<number, ProviderSnapshot>;
  /** `namespace.public_model` → explicit binding. */
  bindings: ReadonlyMap<string, BindingSnapshot>;
  /** `route_group/model` → implicit binding. */
  implicitBindings: ReadonlyMap<string, BindingSnapshot>;
  models: ReadonlyMap<string, ModelCapabilities>;
  masters: ReadonlyMap<number, MasterView>;
  features: Readonly<Record<string, string>>;
  /** Namespaces the control plane mentions (bindings and masters), for model-reference parsing. */
  namespaces: ReadonlySet<string>;
  loadedAt: number;
}

/** A master's auth record, parsed. */
export interface MasterView {
  id: number;
  name: string;
  status: string;
  epoch: number;
  group: string;
  globalQps: number;
  namespaces: readonly string[];
  defaultNamespace: string;
  /** Lifetime quota, µ$ of actual cost; -1 = unlimited. */
  quotaLimit: number;
  /** µ$ spent as PostgreSQL knows it: the floor of the live Redis counter. */
  quotaUsed: number;
  budgets: Budgets;
  /** A quota or a budget applies: requests of the master's keys reserve spend at admission. */
  spendLimited: boolean;
}

export interface ReplicaEvents {
  /** A child key's record changed (digest), or all of them may have (undefined). */
  onKeyInvalidated?(digest: string | undefined): void;
  onReload?(snapshot: ConfigSnapshot, reason: string): void;
}

const EMPTY: ConfigSnapshot = {
  version: 0,
  providers: new Map(),
  bindings: new Map(),
  implicitBindings: new Map(),
  models: new Map(),
  masters: new Map(),
  features: {},
  namespaces: new Set(['default']),
  loadedAt: 0,
};

function parseJsonMap<T, K>(hash: Record<string, string>, key: (field: string) => K, log: Logger, what: string): Map<K, T> {
  const out = new Map<K, T>();
  for (const [field, value] of Object.entries(hash)) {
    try {
      out.set(key(field), JSON.parse(value) as T);
    } catch {
      log.error({ field, what }, 'unparseable snapshot entry skipped');
    }
  }
  return out;
}

function parseStringArray(value: string | undefined): string[] {
  try {
    const parsed = JSON.parse(value ?? '[]') as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}

export function parseMaster(record: Partial<MasterRecord>): MasterView | undefined {
  const id = Number(record.id);
  if (!Number.isSafeInteger(id) || id <= 0) return undefined;
  const quotaLimit = quotaOf(record.quota_limit);
  const budgets = parseBudgets(record.budgets);
  return {
    id,
    name: record.name ?? '',
    status: record.status ?? 'suspended',
    epoch: Number(record.epoch ?? 0),
    group: record.group || 'default',
    globalQps: Number(record.global_qps ?? 0),
    namespaces: parseStringArray(record.namespaces),
    defaultNamespace: record.default_namespace || 'default',
    quotaLimit,
    quotaUsed: usedOf(record.quota_used),
    budgets,
    spendLimited: quotaLimit >= 0 || hasBudgets(budgets),
  };
}

async function loadMasters(redis: Redis): Promise<Map<number, MasterView>> {
  const masters = new Map<number, MasterView>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', RedisKeys.master('*'), 'COUNT', 1_000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    for (const [err, record] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      const master = parseMaster(record as Partial<MasterRecord>);
      if (master) masters.set(master.id, master);
    }
  } while (cursor !== '0');
  return masters;
}

function namespacesOf(bindings: ReadonlyMap<string, BindingSnapshot>, masters: ReadonlyMap<number, MasterView>): Set<string> {
  const out = new Set<string>(['default']);
  for (const b of bindings.values()) out.add(b.namespace);
  for (const m of masters.values()) for (const ns of m.namespaces) out.add(ns);
  return out;
}

export class ConfigReplica {
  private current: ConfigSnapshot = EMPTY;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private closed = false;
  /** Set when a load failed: the next successful poll reloads whatever the version says. */
  private needsReload = false;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly log: Logger,
    private readonly events: ReplicaEvents = {},
    private readonly pollMs = 1_000,
  ) {}

  get snapshot(): ConfigSnapshot {
    return this.current;
  }

  /**
   * A master by id: from the snapshot, else read once from Redis (a key may arrive before its
   * master's refresh message is handled). Rejects only when Redis cannot be read.
   */
  async master(id: number): Promise<MasterView | undefined> {
    const known = this.current.masters.get(id);
    if (known) return known;
    const master = parseMaster(await redisCall(this.redis, 1_000, () => this.redis.hgetall(RedisKeys.master(id))));
    if (master && !this.current.masters.has(id)) {
      const masters = new Map(this.current.masters).set(id, master);
      this.current = { ...this.current, masters, namespaces: namespacesOf(this.current.bindings, masters) };
    }
    return master;
  }

  /** Loads everything, subscribes to refreshes and starts the version poll. */
  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === CONFIG_REFRESH_CHANNEL) this.onMessage(message);
    });
    // Re-subscribing after a reconnect is ioredis' job (autoResubscribe); a reload covers the gap.
    // (Re)subscribe on every connection, then reload to cover what was missed while away.
    const subscribe = () =>
      this.subscriber.subscribe(CONFIG_REFRESH_CHANNEL).catch((err: unknown) => {
        this.log.warn({ err: { message: (err as Error).message } }, 'could not subscribe to config refreshes; polling config:version meanwhile');
      });
    this.subscriber.on('ready', () => {
      void subscribe();
      void this.reload('subscriber reconnected').catch(() => undefined);
    });
    if (this.subscriber.status === 'ready') void subscribe();
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
    try {
      await this.reload('start');
    } catch (err) {
      // Serve what can be served (health says 503) and load as soon as Redis answers.
      this.log.error({ err: { message: (err as Error).message } }, 'config could not be loaded from Redis at start; retrying every second');
      this.needsReload = true;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.reloading?.catch(() => undefined);
  }

  /** Full reload (coalesced: concurrent callers share one). */
  reload(reason: string): Promise<void> {
    this.reloading ??= this.loadAll(reason).finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async loadAll(reason: string): Promise<void> {
    const version = Number((await this.redis.get(RedisKeys.configVersion)) ?? 0);
    const routing = await this.loadRouting();
    const masters = await loadMasters(this.redis);
    const features = await this.redis.hgetall(RedisKeys.features);
    this.current = { ...routing, masters, features, version, namespaces: namespacesOf(routing.bindings, masters), loadedAt: Date.now() };
    this.events.onKeyInvalidated?.(undefined);
    this.events.onReload?.(this.current, reason);
    this.log.debug({ version, reason, providers: routing.providers.size, masters: masters.size }, 'config loaded');
  }

  private async loadRouting(): Promise<Pick<ConfigSnapshot, 'providers' | 'bindings' | 'implicitBindings' | 'models'>> {
    const [providers, bindings, implicit, models] = await Promise.all([
      this.redis.hgetall(RedisKeys.providers),
      this.redis.hgetall(RedisKeys.bindings),
      this.redis.hgetall(RedisKeys.implicitBindings),
      this.redis.hgetall(RedisKeys.models),
    ]);
    return {
      providers: parseJsonMap<ProviderSnapshot, number>(providers, Number, this.log, 'provider'),
      bindings: parseJsonMap<BindingSnapshot, string>(bindings, String, this.log, 'binding'),
      implicitBindings: parseJsonMap<BindingSnapshot, string>(implicit, String, this.log, 'implicit binding'),
      models: parseJsonMap<ModelCapabilities, string>(models, String, this.log, 'model'),
    };
  }

  private async poll(): Promise<void> {
    if (this.closed || this.reloading || this.redis.status !== 'ready') return;
    try {
      const version = Number((await this.redis.get(RedisKeys.configVersion)) ?? 0);
      // Ahead: a refresh message was missed. Behind: Redis was emptied or replaced.
      if (version !== this.current.version || this.needsReload) {
        await this.reload(`config:version ${this.current.version} → ${version}`);
        this.needsReload = false;
      }
    } catch (err) {
      this.log.debug({ err: { message: (err as Error).message } }, 'config version poll failed');
    }
  }

  private onMessage(raw: string): void {
    let message: RefreshMessage;
    try {
      message = JSON.parse(raw) as RefreshMessage;
    } catch {
      return;
    }
    void this.applyMessage(message).catch((err: unknown) => {
      this.log.warn({ err: { message: (err as Error).message }, resource: message.resource }, 'refresh failed; the version poll will retry');
    });
  }

  private async applyMessage(message: RefreshMessage): Promise<void> {
    switch (message.resource) {
      case 'key':
        this.events.onKeyInvalidated?.(message.active_key);
        break;
      case 'master': {
        const masters = new Map(this.current.masters);
        for (const id of message.master_ids ?? []) {
          const master = parseMaster(await this.redis.hgetall(RedisKeys.master(id)));
          if (master) masters.set(id, master);
          else masters.delete(id);
        }
        this.current = { ...this.current, masters, namespaces: namespacesOf(this.current.bindings, masters) };
        break;
      }
      case 'routing': {
        const routing = await this.loadRouting();
        this.current = { ...this.current, ...routing, namespaces: namespacesOf(routing.bindings, this.current.masters) };
        break;
      }
      case 'features':
        this.current = { ...this.current, features: await this.redis.hgetall(RedisKeys.features) };
        break;
      default:
        await this.reload(`refresh ${message.resource}`);
        return;
    }
    // Messages of one apply share a version; only move forward.
    if (message.version > this.current.version) this.current = { ...this.current, version: message.version };
  }
}
