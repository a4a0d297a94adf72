-- One check of a rate limit shared by every instance, as GCRA (the token bucket written as a
-- "theoretical arrival time"): the key holds the moment (ms) its bucket is full again, and
-- expires then, so an idle client costs nothing.
--   KEYS[1]  the limit's key for one client (a digest of its address or name)
--   ARGV[1]  the emission interval T in ms (the period / the burst)
--   ARGV[2]  the burst
--   ARGV[3]  'take' (one request), or 'give' (give back what a take took)
-- Returns 0 when admitted (or given back), else the ms to wait until one would be.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if ARGV[3] == 'give' then
  tat = tat - interval
  if tat <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], tat, 'PX', math.ceil(tat - now))
  end
  return 0
end
local wait = tat - now - interval * (burst - 1)
if wait > 0 then
  return math.ceil(wait)
end
tat = tat + interval
redis.call('SET', KEYS[1], tat, 'PX', math.ceil(tat - now))
return 0
