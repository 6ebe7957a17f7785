-- A: {stock, status, starts_ms, ends_ms, per_account_limit, per_id_limit, hold_ms,
--     number_choice (0/1), channels (comma separated), agreement_version, offer_id,
--     offer_version, offer (the snapshot, as JSON text), buckets (a bucketed round's own tag)}.
-- The meta hash keeps these names (every field but stock and offer), read by reserve.lua and
-- Inventory.describe. Returns 1 when the round was newly armed (stock set), 0 when re-armed
-- (stock untouched).
local META = {'status', 'starts_ms', 'ends_ms', 'per_account_limit', 'per_id_limit', 'hold_ms',
  'number_choice', 'channels', 'agreement_version', 'offer_id', 'offer_version'}
local new = redis.call('HSETNX', K.counters, 'stocked', A.stock)
if new == 1 then
  redis.call('SET', K.stock, A.stock)
  redis.call('HSET', K.counters, 'held', 0, 'paid', 0, 'released', 0, 'refund_required', 0,
    'orders', 0)
  if A.stock <= 0 then redis.call('HSETNX', K.counters, 'sold_out_at_ms', now_ms()) end
end
local fields = {}
for _, name in ipairs(META) do
  fields[#fields + 1] = name
  fields[#fields + 1] = A[name]
end
redis.call('HSET', K.meta, unpack(fields))
-- a bucketed round's own tag (inventory/_buckets.py): how many buckets hold its stock
if A.buckets then redis.call('HSET', K.meta, 'buckets', A.buckets) end
redis.call('HSET', K.offers, A.offer_version, A.offer)
return new
