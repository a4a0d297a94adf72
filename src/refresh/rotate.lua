-- Rotate a refresh-token family in one atomic step.
-- The family's value: "<live jti> <live iat> <live exp> [<previous jti> <rotated at>]"
-- (a bare "<live jti>" from before retries existed is rotated but never retried).
-- KEYS[1]: the family's key.
-- ARGV: 1 presented jti, 2 next jti, 3 next iat, 4 next exp, 5 now, 6 retry grace (s); unix s.
-- Returns {'1'} rotated; {'3', jti, iat, exp} the live member, for a retry of the member just
-- spent within the grace; {'2'} reused (the family is deleted); {'0'} unknown.
local value = redis.call('GET', KEYS[1])
if not value then
  return {'0'}
end
local f = {}
for field in string.gmatch(value, '%S+') do
  f[#f + 1] = field
end
if f[1] == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[1] .. ' ' .. ARGV[5], 'EXAT', ARGV[4])
  return {'1'}
end
if f[4] == ARGV[1] and tonumber(ARGV[5]) < tonumber(f[5]) + tonumber(ARGV[6]) then
  return {'3', f[1], f[2], f[3]}
end
redis.call('DEL', KEYS[1])
return {'2'}
