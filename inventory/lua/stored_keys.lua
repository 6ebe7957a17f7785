-- One step of a scan of the round's stored outcomes, fields only (the outcomes' JSON is not
-- sent back). A: {cursor = '0' to start, count}. Returns {next cursor ('0' = done), field, ...}.
local found = redis.call('HSCAN', K.idem, tostring(A.cursor), 'COUNT', tonumber(A.count) or 1000)
local out = {found[1]}
local flat = found[2]
for i = 1, #flat, 2 do out[#out + 1] = flat[i] end
return out
