import { LuaScript } from './lua-script.js';

/*
 * The limiter's two scripts. Each is one atomic step in Redis, so any number of gateways sharing
 * one Redis decide as if they were one process (DESIGN §9 invariant 5). The constants (1 000 ms,
 * 60 000 ms, 61 buckets) are those of window.ts; test/unit/limits checks that they agree.
 *
 * Time: ARGV[1] is the window clock in ms; empty means "use Redis TIME", so gateways whose clocks
 * drift still share one clock.
 */

/**
 * admit
 * KEYS: 1 rl:master:<id>:qps (zset)   2 rl:key:<id>:rpm (zset)   3 rl:key:<id>:tpm (hash)
 *       4 stats:rps:<s>   5 stats:rps:master:<id>:<s>   6 stats:limited:<s>   7 stats:limited:master:<id>:<s>
 * ARGV: 1 now ms or ''   2 log member (unique per admission)   3 master qps (0 = unlimited)
 *       4 key rpm (0 = unlimited)   5 key tpm (0 = unlimited)   6 tokens to charge   7 stats ttl s
 * Returns {1, now} when admitted (the request is now in every window), or
 *         {0, now, qpsBlockingScore | -1, rpmBlockingScore | -1, tpmRefused 0|1, bucket, tokens, …}
 *         when refused, having written nothing to any window.
 */
export const ADMIT_LUA = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
now = math.floor(now)
local member = ARGV[2]
local qps = tonumber(ARGV[3])
local rpm = tonumber(ARGV[4])
local tpm = tonumber(ARGV[5])
local charge = tonumber(ARGV[6])
local statsTtl = tonumber(ARGV[7])

local function blocking(key, limit, window)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n < limit then return -1 end
  local e = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  return tonumber(e[2])
end

local qpsBlock = -1
if qps > 0 then qpsBlock = blocking(KEYS[1], qps, 1000) end
local rpmBlock = -1
if rpm > 0 then rpmBlock = blocking(KEYS[2], rpm, 60000) end

local bucket = math.floor(now / 1000)
local tpmRefused = 0
local live = {}
if tpm > 0 then
  local h = redis.call('HGETALL', KEYS[3])
  local oldest = bucket - 60
  local used = 0
  for i = 1, #h, 2 do
    local b = tonumber(h[i])
    if b < oldest then
      redis.call('HDEL', KEYS[3], h[i])
    else
      local v = tonumber(h[i + 1])
      used = used + v
      live[#live + 1] = b
      live[#live + 1] = v
    end
  end
  if used + charge > tpm then tpmRefused = 1 end
end

local function count(key)
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, statsTtl) end
end

if qpsBlock >= 0 or rpmBlock >= 0 or tpmRefused == 1 then
  count(KEYS[6])
  count(KEYS[7])
  local out = {0, now, qpsBlock, rpmBlock, tpmRefused}
  if tpmRefused == 1 then
    for i = 1, #live do out[#out + 1] = live[i] end
  end
  return out
end

if qps > 0 then
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('PEXPIRE', KEYS[1], 2000)
end
if rpm > 0 then
  redis.call('ZADD', KEYS[2], now, member)
  redis.call('PEXPIRE', KEYS[2], 61000)
end
if tpm > 0 and charge > 0 then
  redis.call('HINCRBY', KEYS[3], bucket, charge)
  redis.call('PEXPIRE', KEYS[3], 62000)
end
count(KEYS[4])
count(KEYS[5])
return {1, now}
`;

/**
 * settle
 * KEYS: 1 rl:key:<id>:tpm   2 stats:tps:<s>   3 stats:tps:master:<id>:<s>
 * ARGV: 1 now ms or ''   2 bucket charged at admission ('' when the key's TPM was unlimited)
 *       3 tokens charged   4 actual tokens   5 stats ttl s
 * More than charged: the excess goes into the current bucket (the tokens were produced up to now).
 * Less: the difference is refunded from the admission bucket if it still counts. Returns 1.
 */
export const SETTLE_LUA = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local current = math.floor(now / 1000)
local charged = tonumber(ARGV[3])
local actual = tonumber(ARGV[4])
local statsTtl = tonumber(ARGV[5])
local delta = actual - charged
if ARGV[2] ~= '' then
  local b = tonumber(ARGV[2])
  if delta > 0 then
    redis.call('HINCRBY', KEYS[1], current, delta)
    redis.call('PEXPIRE', KEYS[1], 62000)
  elseif delta < 0 and b >= current - 60 and redis.call('HEXISTS', KEYS[1], b) == 1 then
    if redis.call('HINCRBY', KEYS[1], b, delta) <= 0 then redis.call('HDEL', KEYS[1], b) end
  end
end
if actual > 0 then
  for i = 2, 3 do
    if redis.call('INCRBY', KEYS[i], actual) == actual then redis.call('EXPIRE', KEYS[i], statsTtl) end
  end
end
return 1
`;

export const admitScript = new LuaScript(ADMIT_LUA);
export const settleScript = new LuaScript(SETTLE_LUA);
