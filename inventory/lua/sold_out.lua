-- The round's sold-out lease (inventory/_soldout.py). A: {ms = the lease's length}.
-- With no unit left, take the lease or extend it to at least now + ms; a lease that had
-- lapsed starts a new epoch (outcomes may have been stored while none held). While a lease
-- holds, reserve.lua sells nothing and stores no outcome: it replays stored ones and answers
-- every other request sold_out. With units left (or the round not armed) nothing changes.
-- Returns {epoch, ms the lease still holds (0 = none), 1 if taken or extended now else 0}.
local now = now_ms()
local lease = redis.call('HMGET', K.soldout, 'epoch', 'until')
local epoch, till = tonumber(lease[1] or '0'), tonumber(lease[2] or '0')
local left = tonumber(redis.call('GET', K.stock) or '0')
local ms = tonumber(A.ms)
if left > 0 or type(ms) ~= 'number' or ms < 1 or redis.call('EXISTS', K.meta) == 0 then
  return {epoch, math.max(0, till - now), 0}
end
if till <= now then epoch = epoch + 1 end
till = math.max(till, now + math.floor(ms))
redis.call('HSET', K.soldout, 'epoch', epoch, 'until', till)
return {epoch, till - now, 1}
