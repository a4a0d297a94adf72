-- An account's sessions in Redis, all in one hash slot (`{u:<id>}`):
--   <p>f:<family>  the live member's jti, expiring with it (as an anonymous family's key)
--   <p>r:<family>  the retry record of the last rotation (see rotate.lua)
--   KEYS[1] <p>s   sorted set: family -> its live member's expiry (unix s)
--   KEYS[2] <p>m   hash: family -> "<created> [<last refreshed>]"
-- where <p> is ARGV[2]. The set and the hash list exactly the families not yet expired: every
-- write prunes what has expired and both keys expire with the last family.
-- ARGV[1] is the operation:
--   start  ARGV 3 family, 4 jti, 5 exp, 6 created, 7 cap  -> {ended to make room}
--   list                                                   -> {family, exp, meta, ...}
--   end    ARGV 3 family                                   -> {1 if it was live, else 0}
--   endall ARGV 3 family to keep ('' for none)             -> {how many ended}
local index, meta, p, op = KEYS[1], KEYS[2], ARGV[2], ARGV[1]
local now = tonumber(redis.call('TIME')[1])

local function forget(family)
  redis.call('DEL', p .. 'f:' .. family, p .. 'r:' .. family)
  redis.call('HDEL', meta, family)
  return redis.call('ZREM', index, family)
end

local function prune()
  local dead = redis.call('ZRANGEBYSCORE', index, '-inf', now)
  for _, family in ipairs(dead) do
    redis.call('HDEL', meta, family)
  end
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
end

local function expire_with_last()
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('EXPIREAT', index, last[2])
    redis.call('EXPIREAT', meta, last[2])
  else
    redis.call('DEL', index, meta)
  end
end

prune()
if op == 'start' then
  local family = ARGV[3]
  redis.call('SET', p .. 'f:' .. family, ARGV[4], 'EXAT', ARGV[5])
  redis.call('ZADD', index, ARGV[5], family)
  redis.call('HSET', meta, family, ARGV[6])
  local excess = redis.call('ZCARD', index) - tonumber(ARGV[7])
  local ended = 0
  if excess > 0 then
    for _, victim in ipairs(redis.call('ZRANGE', index, 0, excess)) do
      if ended < excess and victim ~= family then
        ended = ended + forget(victim)
      end
    end
  end
  expire_with_last()
  return {ended}
elseif op == 'list' then
  local families = redis.call('ZRANGE', index, 0, -1, 'WITHSCORES')
  local out = {}
  for i = 1, #families, 2 do
    out[#out + 1] = families[i]
    out[#out + 1] = families[i + 1]
    out[#out + 1] = redis.call('HGET', meta, families[i]) or ''
  end
  return out
elseif op == 'end' then
  local live = redis.call('EXISTS', p .. 'f:' .. ARGV[3])
  forget(ARGV[3])
  expire_with_last()
  return {live}
elseif op == 'endall' then
  local ended = 0
  for _, family in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    if family ~= ARGV[3] then
      ended = ended + forget(family)
    end
  end
  expire_with_last()
  return {ended}
end
return redis.error_reply('unknown operation')
