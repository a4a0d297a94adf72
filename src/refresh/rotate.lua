-- Rotate a refresh-token family in one atomic step.
-- KEYS[1]: the family's key, holding its live member's jti.
-- KEYS[2]: the family's retry record, "<successor jti> <its iat> <its exp> <spent jti> <rotated
--          at>", written by each rotation, so that the spent member presented again within the
--          grace (its answer may have been lost) is given the same successor.
-- KEYS[3], KEYS[4]: for an account's family, its account's session index and metadata (see
--          sessions.lua), kept in step: the family's expiry and last rotation, or its removal.
-- ARGV: 1 presented jti, 2 next jti, 3 next iat, 4 next exp (unix s), 5 retry grace (s),
--       6 family, 7 the session's start (unix s).
-- Time is the Redis server's: instances whose clocks differ agree on the grace.
-- Returns {'1'} rotated; {'3', jti, iat, exp} the successor, for a retry within the grace;
-- {'2'} reused (the family is deleted); {'0'} unknown.
local indexed = KEYS[3] ~= nil

local function expire_index_with_last()
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('EXPIREAT', KEYS[3], last[2])
    redis.call('EXPIREAT', KEYS[4], last[2])
  else
    redis.call('DEL', KEYS[3], KEYS[4])
  end
end

local live = redis.call('GET', KEYS[1])
if not live then
  return {'0'}
end
local now = tonumber(redis.call('TIME')[1])
if live == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EXAT', ARGV[4])
  redis.call('SET', KEYS[2], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[1] .. ' ' .. now, 'EXAT', ARGV[4])
  if indexed then
    redis.call('ZADD', KEYS[3], ARGV[4], ARGV[6])
    -- The session's start stays as the login recorded it; ARGV[7] only fills it in.
    local meta = redis.call('HGET', KEYS[4], ARGV[6])
    local created = meta and string.match(meta, '^(%S+)') or ARGV[7]
    redis.call('HSET', KEYS[4], ARGV[6], created .. ' ' .. now)
    expire_index_with_last()
  end
  return {'1'}
end
local grace = tonumber(ARGV[5])
if grace > 0 then
  local retry = redis.call('GET', KEYS[2])
  if retry then
    local f = {}
    for field in string.gmatch(retry, '%S+') do
      f[#f + 1] = field
    end
    -- Only while the successor it names is still the live member: an instance of an older
    -- version may have rotated since without writing a record.
    if f[1] == live and f[4] == ARGV[1] and now < tonumber(f[5]) + grace then
      return {'3', f[1], f[2], f[3]}
    end
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
if indexed then
  redis.call('ZREM', KEYS[3], ARGV[6])
  redis.call('HDEL', KEYS[4], ARGV[6])
  expire_index_with_last()
end
return {'2'}
