-- ARGV: round_id, stock, status, starts_ms, ends_ms, per_account_limit, per_id_limit, hold_ms,
--       number_choice (0/1), channels (comma separated), agreement_version, offer_id,
--       offer_version, offer_json
-- Returns 1 when the round was newly armed (stock set), 0 when re-armed (stock untouched).
local new = redis.call('HSETNX', K.counters, 'stocked', ARGV[2])
if new == 1 then
  redis.call('SET', K.stock, ARGV[2])
  redis.call('HSET', K.counters, 'held', 0, 'paid', 0, 'released', 0, 'refund_required', 0,
    'orders', 0)
  if tonumber(ARGV[2]) <= 0 then redis.call('HSETNX', K.counters, 'sold_out_at_ms', now_ms()) end
end
redis.call('HSET', K.meta, 'status', ARGV[3], 'starts_ms', ARGV[4], 'ends_ms', ARGV[5],
  'per_account_limit', ARGV[6], 'per_id_limit', ARGV[7], 'hold_ms', ARGV[8],
  'number_choice', ARGV[9], 'channels', ARGV[10], 'agreement_version', ARGV[11],
  'offer_id', ARGV[12], 'offer_version', ARGV[13])
redis.call('HSET', K.offers, ARGV[13], ARGV[14])
return new
