-- A: {limit}. Releases up to limit holds whose deadline has passed.
-- Returns how many orders were released.
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', K.holds, '-inf', now, 'LIMIT', 0, A.limit)
local released = 0
for _, oid in ipairs(due) do
  local o = get_order(oid)
  if o and o.status == 'reserved' then
    release_order(oid, o, 'expired', now)
    released = released + 1
  else
    redis.call('ZREM', K.holds, oid)
  end
end
return released
