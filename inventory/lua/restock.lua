-- A: {units, restock_id}. Adds units once per restock_id.
-- Returns {applied (1/0), units left}, or {-1, 0} when the round is not armed.
if redis.call('EXISTS', K.meta) == 0 then return {-1, 0} end
if redis.call('SADD', K.restocks, A.restock_id) == 0 then
  return {0, tonumber(redis.call('GET', K.stock) or '0')}
end
local units = A.units
count('stocked', units)
return {1, redis.call('INCRBY', K.stock, units)}
