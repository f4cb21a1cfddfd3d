import type { Redis } from 'ioredis';
import { waitForRedis } from '../../lib/redis.js';
import { LuaScript } from '../limits/lua-script.js';
import type { StateStoreBackend } from './health-store.js';
import type { HealthChange, SharedBan, SharedBreaker } from './health-view.js';
import { MemoryHealthStore, type HealthStoreOptions } from './memory-health-store.js';

/** Redis keys and channel of the shared health state (docs/limits.md). */
export const HealthKeys = {
  /** Hash: upstream key id → SharedBreaker JSON (last open/close, last writer wins). */
  breakers: (prefix: string) => `${prefix}health:breaker`,
  /** Sorted set: upstream key id → cool-down end (ms); expired members are pruned by the poll. */
  cooldowns: (prefix: string) => `${prefix}health:cooldown`,
  /** Hash: upstream key id → SharedBan JSON (a lifted ban is kept as `lifted: true`). */
  bans: (prefix: string) => `${prefix}health:ban`,
  /** Pub/Sub channel: HealthChange JSON, published by the write that stored it. */
  channel: (prefix: string) => `${prefix}dp:health`,
} as const;

export interface RedisHealthStoreOptions extends HealthStoreOptions {
  /** Command connection (writes and the poll). Not closed by the store. */
  redis: Redis;
  /** Connection to subscribe with; default `redis.duplicate()`, closed by the store. */
  subscriber?: Redis;
  /** Prepended to every key and the channel ('' by default). */
  prefix?: string;
  /** Full re-read of the shared state, ms (default 1 000): covers Pub/Sub messages lost while disconnected. */
  pollMs?: number;
  /** Called with every Redis failure (the store keeps working on its local view). */
  onError?: (err: unknown) => void;
}

/**
 * Writes a hash field only when the stored value is older (last writer wins, same rule as
 * HealthView), then publishes the change. KEYS[1] hash; ARGV field, json, at, origin, channel.
 */
const SET_IF_NEWER = new LuaScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and tonumber(old.at) then
    local at, newAt = tonumber(old.at), tonumber(ARGV[3])
    if at > newAt or (at == newAt and tostring(old.origin) >= ARGV[4]) then return 0 end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`);

/**
 * Health shared by every gateway (`dp_state_store_backend = redis`). Reads stay local and
 * synchronous: a state change (breaker opened/closed, cool-down, ban) is applied to the local view,
 * written through to Redis and published on `dp:health`; the other gateways apply the message
 * within milliseconds and, as a safety net, re-read the three structures every `pollMs`.
 * Per-request outcomes are never written: each gateway's breaker counts what it saw, and only its
 * decisions are shared.
 */
export class RedisHealthStore extends MemoryHealthStore {
  override readonly backend: StateStoreBackend = 'redis';
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly ownsSubscriber: boolean;
  private readonly prefix: string;
  private readonly pollMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(options: RedisHealthStoreOptions) {
    super(options);
    this.redis = options.redis;
    this.ownsSubscriber = !options.subscriber;
    this.subscriber = options.subscriber ?? options.redis.duplicate();
    this.prefix = options.prefix ?? '';
    this.pollMs = options.pollMs ?? 1_000;
    this.onError = options.onError ?? (() => {});
    if (this.ownsSubscriber) this.subscriber.on('error', (err: unknown) => this.onError(err));
  }

  override async start(): Promise<void> {
    const channel = HealthKeys.channel(this.prefix);
    this.subscriber.on('message', (ch: string, message: string) => {
      if (ch === channel) this.receive(message);
    });
    // Messages published while the subscriber was away are lost: re-read everything on reconnect.
    this.subscriber.on('ready', () => void this.poll());
    await waitForRedis(this.subscriber);
    await this.subscriber.subscribe(channel);
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  override async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  override async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    await this.polling;
    if (this.ownsSubscriber) this.subscriber.disconnect();
    else await this.subscriber.unsubscribe(HealthKeys.channel(this.prefix)).catch(() => {});
    await super.close();
  }

  /** Re-reads every shared fact and merges it (idempotent: last writer wins). */
  async poll(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  protected override share(change: HealthChange): Promise<void> {
    if (this.closed) return Promise.resolve();
    const write = this.write(change).catch((err: unknown) => this.onError(err));
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
    return write;
  }

  private async write(change: HealthChange): Promise<void> {
    const message = JSON.stringify(change);
    const channel = HealthKeys.channel(this.prefix);
    if (change.type === 'cooldown') {
      await this.redis
        .multi()
        .zadd(HealthKeys.cooldowns(this.prefix), 'GT', change.untilMs, String(change.keyId))
        .publish(channel, message)
        .exec();
      return;
    }
    const hash = change.type === 'breaker' ? HealthKeys.breakers(this.prefix) : HealthKeys.bans(this.prefix);
    const v = change.value;
    await SET_IF_NEWER.run(this.redis, [hash], [String(change.keyId), JSON.stringify(v), v.at, v.origin, channel, message]);
  }

  private receive(message: string): void {
    const change = parseChange(message);
    if (!change) return;
    if (change.type !== 'cooldown' && change.value.origin === this.view.origin) return;
    if (this.view.apply(change)) void this.changed(change, false);
  }

  private async pollOnce(): Promise<void> {
    const now = this.clock();
    try {
      const replies = await this.redis
        .multi()
        .hgetall(HealthKeys.breakers(this.prefix))
        .zremrangebyscore(HealthKeys.cooldowns(this.prefix), '-inf', now)
        .zrange(HealthKeys.cooldowns(this.prefix), 0, -1, 'WITHSCORES')
        .hgetall(HealthKeys.bans(this.prefix))
        .exec();
      if (!replies) return;
      const [breakers, , cooldowns, bans] = replies.map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      for (const [field, json] of Object.entries(asRecord(breakers))) {
        const value = parseJson<SharedBreaker>(json);
        if (value) this.merge({ type: 'breaker', keyId: Number(field), value });
      }
      const pairs = Array.isArray(cooldowns) ? cooldowns.map(String) : [];
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        this.merge({ type: 'cooldown', keyId: Number(pairs[i]), untilMs: Number(pairs[i + 1]) });
      }
      for (const [field, json] of Object.entries(asRecord(bans))) {
        const value = parseJson<SharedBan>(json);
        if (value) this.merge({ type: 'ban', keyId: Number(field), value });
      }
    } catch (err) {
      this.onError(err);
    }
  }

  private merge(change: HealthChange): void {
    if (Number.isInteger(change.keyId) && this.view.apply(change)) void this.changed(change, false);
  }
}

function asRecord(value: unknown): Record<string, string> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, string>) : {};
}

function parseJson<T>(json: string): T | null {
  try {
    const value: unknown = JSON.parse(json);
    return value && typeof value === 'object' ? (value as T) : null;
  } catch {
    return null;
  }
}

function parseChange(message: string): HealthChange | null {
  const change = parseJson<HealthChange>(message);
  if (!change || !Number.isInteger(change.keyId)) return null;
  if (change.type === 'cooldown') return Number.isFinite(change.untilMs) ? change : null;
  if (change.type === 'breaker' || change.type === 'ban') return typeof change.value?.at === 'number' ? change : null;
  return null;
}
