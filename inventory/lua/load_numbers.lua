-- A: {numbers = [number, ...], surcharges = {number: fen}} (a number without a surcharge is
-- absent from surcharges). A number already held or sold is not put back. Returns how many numbers were newly added, or -1 when the round is not armed.
if redis.call('EXISTS', K.meta) == 0 then return -1 end
local added = 0
for _, n in ipairs(A.numbers) do
  if redis.call('HEXISTS', K.numowner, n) == 0 then
    added = added + redis.call('SADD', K.numbers, n)
    local fee = A.surcharges[n]
    if fee ~= nil then redis.call('HSET', K.numfee, n, string.format('%d', fee)) end
  end
end
return added
