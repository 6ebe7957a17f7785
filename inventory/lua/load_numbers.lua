-- ARGV: round_id, then pairs (number, surcharge or ''). A number already held or sold is not
-- put back. Returns how many numbers were newly added, or -1 when the round is not armed.
if redis.call('EXISTS', K.meta) == 0 then return -1 end
local added = 0
for i = 2, #ARGV, 2 do
  local n = ARGV[i]
  if redis.call('HEXISTS', K.numowner, n) == 0 then
    added = added + redis.call('SADD', K.numbers, n)
    if ARGV[i + 1] ~= '' then redis.call('HSET', K.numfee, n, ARGV[i + 1]) end
  end
end
return added
