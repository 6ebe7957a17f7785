-- Add one worker's requests to a rate-limit window; return the totals of those keys and every
-- key that reached the hot threshold in this window (so workers that never saw a key refuse it).
-- KEYS: the window's counts (hash), its hot keys (hash). ARGV: ttl ms, hot threshold, then
-- field, delta pairs. Returns {totals..., {hot field, total, ...}}.
local totals = {}
local hot = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local total = redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  totals[#totals + 1] = total
  if total >= hot then redis.call('HSET', KEYS[2], ARGV[i], total) end
end
if #ARGV > 2 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
totals[#totals + 1] = redis.call('HGETALL', KEYS[2])
return totals
