-- Rotate a refresh-token family in one atomic step.
-- KEYS[1]: the family's key.  ARGV[1]: presented jti.  ARGV[2]: next jti.  ARGV[3]: next expiry (unix s).
-- Returns 1 rotated, 2 reused (the family is deleted), 0 unknown.
local live = redis.call('GET', KEYS[1])
if not live then
  return 0
end
if live ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 2
end
redis.call('SET', KEYS[1], ARGV[2], 'EXAT', ARGV[3])
return 1
