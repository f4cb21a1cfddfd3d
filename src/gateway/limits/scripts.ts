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
 * Spend (docs/budgets.md), only when ARGV[8] is set (the common path sends 7 keys and 7 args):
 * KEYS: 8 usage:key:<id>:spent   9 usage:master:<id>:spent   10 usage:dirty:keys
 *       11 usage:dirty:masters   12… one usage:{key|master}:<id>:<period>:<bucket> hash per budgeted window
 * ARGV: 8 whose spent counters move: 'k' key, 'm' master, 'km' both, '-' neither (a subject
 *       without quota or budget keeps no counter)   9 key quota µ$ (-1 = none)   10 key seed floor µ$ (quota_used)   11 master quota µ$
 *       12 master seed floor µ$   13 estimated µ$   14 estimated tokens   15 key id   16 master id
 *       17 number of windows n, then per window: requests limit, tokens limit, cost limit µ$ (-1 =
 *       none), expiry (ms since the epoch: window end + margin)
 * A missing spent counter counts as its floor (and is created with it when admitted); an existing
 * one is never compared with the floor (docs/budgets.md "Seeding"). A check
 * refuses when its limit ≥ 0 and its counter ≥ the limit.
 * Returns {1, now} when admitted (the request is now in every window and its spend reserved), or
 *         {0, now, qpsBlockingScore | -1, rpmBlockingScore | -1, tpmRefused 0|1,
 *          keySpent if the key quota refused | -1, masterSpent if the master quota refused | -1,
 *          m, (window index, metric 1 requests | 2 tokens | 3 cost) × m, bucket, tokens, …}
 *         when refused, having written nothing to any window or counter.
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

-- Integers as plain digits (tostring would give 1e+15).
local function int(n) return string.format('%.0f', n) end

local spend = ARGV[8] ~= nil and ARGV[8] ~= ''
local trackKey = spend and string.find(ARGV[8], 'k', 1, true) ~= nil
local trackMaster = spend and string.find(ARGV[8], 'm', 1, true) ~= nil
local keySpent, masterSpent, estMicros, estTokens, windows = 0, 0, 0, 0, 0
local keyQuotaSpent, masterQuotaSpent = -1, -1
local budgetHits = {}
if spend then
  -- A missing counter starts at the auth record's quota_used; an existing one is authoritative:
  -- the control plane raises it after a rebuild and lowers it only on an admin reset, which a
  -- gateway still holding the pre-reset record must not undo.
  local function spentOf(key, floor)
    local v = redis.call('GET', key)
    if not v then return floor end
    return tonumber(v) or floor
  end
  keySpent = spentOf(KEYS[8], tonumber(ARGV[10]))
  masterSpent = spentOf(KEYS[9], tonumber(ARGV[12]))
  local keyQuota = tonumber(ARGV[9])
  local masterQuota = tonumber(ARGV[11])
  if keyQuota >= 0 and keySpent >= keyQuota then keyQuotaSpent = keySpent end
  if masterQuota >= 0 and masterSpent >= masterQuota then masterQuotaSpent = masterSpent end
  estMicros = tonumber(ARGV[13])
  estTokens = tonumber(ARGV[14])
  windows = tonumber(ARGV[17])
  for i = 1, windows do
    local a = 17 + (i - 1) * 4
    local used = redis.call('HMGET', KEYS[11 + i], 'requests', 'tokens', 'cost')
    for m = 1, 3 do
      local limit = tonumber(ARGV[a + m])
      if limit >= 0 and (tonumber(used[m]) or 0) >= limit then
        budgetHits[#budgetHits + 1] = i
        budgetHits[#budgetHits + 1] = m
      end
    end
  end
end

if qpsBlock >= 0 or rpmBlock >= 0 or tpmRefused == 1 or keyQuotaSpent >= 0 or masterQuotaSpent >= 0 or #budgetHits > 0 then
  count(KEYS[6])
  count(KEYS[7])
  local out = {0, now, qpsBlock, rpmBlock, tpmRefused, keyQuotaSpent, masterQuotaSpent, #budgetHits / 2}
  for i = 1, #budgetHits do out[#out + 1] = budgetHits[i] end
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
if spend then
  if trackKey then
    redis.call('SET', KEYS[8], int(keySpent + estMicros))
    redis.call('SADD', KEYS[10], ARGV[15])
  end
  if trackMaster then
    redis.call('SET', KEYS[9], int(masterSpent + estMicros))
    redis.call('SADD', KEYS[11], ARGV[16])
  end
  for i = 1, windows do
    local k = KEYS[11 + i]
    redis.call('HINCRBY', k, 'requests', 1)
    if estTokens > 0 then redis.call('HINCRBY', k, 'tokens', int(estTokens)) end
    if estMicros > 0 then redis.call('HINCRBY', k, 'cost', int(estMicros)) end
    redis.call('PEXPIREAT', k, ARGV[17 + i * 4])
  end
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
 * Less: the difference is refunded from the admission bucket if it still counts.
 * Spend, only when ARGV[6] is set:
 * KEYS: 4 usage:key:<id>:spent   5 usage:master:<id>:spent   6 usage:dirty:keys
 *       7 usage:dirty:masters   8… the period hashes the admission counted the request in
 * ARGV: 6 whose spent counters moved at admission ('k', 'm', 'km', '-')   7 µ$ delta (actual − reserved)   8 tokens delta   9 requests delta (0, or -1 for a
 *       request not billed)   10 key id   11 master id
 * Deltas go to those spent counters and to every admission window still alive (never below 0; an
 * expired window is not recreated). Returns 1.
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
if ARGV[6] ~= nil and ARGV[6] ~= '' then
  local trackKey = string.find(ARGV[6], 'k', 1, true) ~= nil
  local trackMaster = string.find(ARGV[6], 'm', 1, true) ~= nil
  local dCost = tonumber(ARGV[7])
  local dTokens = tonumber(ARGV[8])
  local dRequests = tonumber(ARGV[9])
  local function int(n) return string.format('%.0f', n) end
  if dCost ~= 0 then
    if trackKey then
      if redis.call('INCRBY', KEYS[4], int(dCost)) < 0 then redis.call('SET', KEYS[4], 0) end
      redis.call('SADD', KEYS[6], ARGV[10])
    end
    if trackMaster then
      if redis.call('INCRBY', KEYS[5], int(dCost)) < 0 then redis.call('SET', KEYS[5], 0) end
      redis.call('SADD', KEYS[7], ARGV[11])
    end
  end
  local function adjust(key, field, d)
    if d ~= 0 and redis.call('HINCRBY', key, field, int(d)) < 0 then redis.call('HSET', key, field, 0) end
  end
  for i = 8, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      adjust(KEYS[i], 'requests', dRequests)
      adjust(KEYS[i], 'tokens', dTokens)
      adjust(KEYS[i], 'cost', dCost)
    end
  end
end
return 1
`;

export const admitScript = new LuaScript(ADMIT_LUA);
export const settleScript = new LuaScript(SETTLE_LUA);
