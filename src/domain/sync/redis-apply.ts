import type { Redis } from 'ioredis';
import { RedisKeys } from '../../lib/redis-layout.js';

/**
 * Writes to the Redis snapshot, version-guarded (DESIGN §6): a change applies only when its
 * version is above `config:version`, so Redis never goes back to an older state — not even when
 * a stalled worker wakes up after a newer apply. Each apply is one Lua script: all or nothing.
 */
export type RedisOp =
  /** Replace a whole hash (DEL + HSET); an empty `fields` deletes it. */
  | { t: 'replace'; k: string; f: Record<string, string> }
  | { t: 'del'; k: string }
  /** Raise an integer counter to at least `v` (never lower it): a spend counter's seed floor. */
  | { t: 'floor'; k: string; v: string }
  /** Overwrite a counter with `v`: only an admin's quota reset lowers spend. */
  | { t: 'set'; k: string; v: string };

const APPLY_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local version = tonumber(ARGV[1])
if current >= version then return 0 end
local ops = cjson.decode(ARGV[2])
for _, op in ipairs(ops) do
  if op.t == 'floor' then
    local cur = tonumber(redis.call('GET', op.k) or '0') or 0
    if cur < tonumber(op.v) then redis.call('SET', op.k, op.v) end
  elseif op.t == 'set' then
    redis.call('SET', op.k, op.v)
  else
    redis.call('DEL', op.k)
    if op.t == 'replace' then
      local args = {}
      for field, value in pairs(op.f) do
        args[#args + 1] = field
        args[#args + 1] = value
        if #args >= 1000 then
          redis.call('HSET', op.k, unpack(args))
          args = {}
        end
      end
      if #args > 0 then redis.call('HSET', op.k, unpack(args)) end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

/** Applies ops at `version`; false when Redis already holds this version or a newer one. */
export async function applyOps(redis: Redis, version: number, ops: RedisOp[]): Promise<boolean> {
  const applied = (await redis.eval(APPLY_SCRIPT, 1, RedisKeys.configVersion, String(version), JSON.stringify(ops))) as number;
  return applied === 1;
}

export async function readConfigVersion(redis: Redis): Promise<number> {
  return Number((await redis.get(RedisKeys.configVersion)) ?? 0);
}

/**
 * Bulk replace of many small hashes for a full rebuild (100,000 child keys would not fit one
 * script call): pipelined MULTI blocks of DEL + HSET, so no record is ever half-written.
 */
export async function replaceHashes(redis: Redis, records: Array<{ key: string; fields: Record<string, string> }>): Promise<void> {
  const chunk = 500;
  for (let i = 0; i < records.length; i += chunk) {
    const tx = redis.multi();
    for (const { key, fields } of records.slice(i, i + chunk)) {
      tx.del(key);
      if (Object.keys(fields).length > 0) tx.hset(key, fields);
    }
    await tx.exec();
  }
}

const FLOOR_SCRIPT = `
for i, key in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', key) or '0') or 0
  if cur < tonumber(ARGV[i]) then redis.call('SET', key, ARGV[i]) end
end
return 0
`;

/**
 * Raises many counters to at least their floor (a full rebuild's spend counters), one script per
 * chunk of 500: never lowers a counter the gateways have moved past PostgreSQL.
 */
export async function raiseCounters(redis: Redis, floors: Array<{ key: string; value: number }>): Promise<void> {
  const chunk = 500;
  for (let i = 0; i < floors.length; i += chunk) {
    const part = floors.slice(i, i + chunk);
    await redis.eval(FLOOR_SCRIPT, part.length, ...part.map((f) => f.key), ...part.map((f) => String(f.value)));
  }
}

/** Deletes keys matching `pattern` that are not in `keep` (stale records after a rebuild). */
export async function deleteStale(redis: Redis, pattern: string, keep: ReadonlySet<string>): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    cursor = next;
    const stale = keys.filter((k) => !keep.has(k));
    if (stale.length > 0) deleted += await redis.del(...stale);
  } while (cursor !== '0');
  return deleted;
}
