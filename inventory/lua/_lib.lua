-- Shared prelude of every inventory script (prepended by inventory/scripts.py, after the
-- generated tables R (refusal codes, inventory/refusals.py) and ITEM (the fields of a reserve
-- item, inventory/models.py RESERVE_ITEM)).
-- KEYS are RoundKeys.script_keys(), in this order; all carry the round's hash tag.
-- ARGV[1] is always the key space's id (the round id, or a bucket's ``<round>~<b>``); ARGV[2]
-- one JSON object of named arguments (A); for a bucket of a bucketed round ARGV[3] is the round
-- id and ARGV[4] the bucket's number (inventory/_buckets.py).
local K = {
  meta = KEYS[1], stock = KEYS[2], counters = KEYS[3], acct = KEYS[4], idn = KEYS[5],
  numbers = KEYS[6], numowner = KEYS[7], orders = KEYS[8], holds = KEYS[9], idem = KEYS[10],
  outbox = KEYS[11], offers = KEYS[12], restocks = KEYS[13], numfee = KEYS[14],
  soldout = KEYS[15], tokdue = KEYS[16],
}
-- The round id that order ids and events carry.
local ROUND = ARGV[3] or ARGV[1]
-- This bucket's number, or -1 for a round that is not split into buckets.
local BUCKET = tonumber(ARGV[4] or '-1')
local A = cjson.decode(ARGV[2] or '{}')
if type(A) ~= 'table' then return redis.error_reply('the arguments are not a JSON object') end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function enc(v)
  return cjson.encode(v)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- An order record (HSET K.orders oid <json>), written here and by reserve.lua, read by
-- inventory/service.py (Inventory.order turns it into the public order dict):
--   status            reserved | paid | expired | cancelled | refund_required
--   seq               the number of its last event (event_id = oid .. ':' .. seq)
--   buyer_id, id_hash, quantity, number ('' = none), channel, agreement_version
--   reserved_at_ms, pay_before_ms (the hold's deadline), offer_version (K.offers field)
--   price_fen (unit price), surcharge_fen (the number's), total_fen (the amount due)
--   payment_id ('' = unpaid), amount_paid, late (paid after its hold expired)
--   refunds           {payment_id: reason} of payments not applied (absent = none)
local function hget_json(key, field)
  local raw = redis.call('HGET', key, field)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function hset_json(key, field, value)
  redis.call('HSET', key, field, cjson.encode(value))
end

local function get_order(oid) return hget_json(K.orders, oid) end
local function put_order(oid, o) hset_json(K.orders, oid, o) end

local function count(field, n)
  return redis.call('HINCRBY', K.counters, field, n)
end

-- The number of a new order (its id is ROUND .. '-' .. number): 1, 2, 3... in a round without
-- buckets; n * 64 + bucket (keys.MAX_BUCKETS) in bucket `bucket`, so the id names its bucket.
local function next_order_number()
  local n = count('orders', 1)
  if BUCKET < 0 then return n end
  return n * 64 + BUCKET
end

-- Append one order event to the round's outbox (fields of checkout/events.py).
local function emit(oid, o, etype, at, data_json)
  redis.call('XADD', K.outbox, '*',
    'event_id', oid .. ':' .. o.seq, 'type', etype, 'order_id', oid, 'round_id', ROUND,
    'seq', o.seq, 'status', o.status, 'at', at, 'data', data_json)
end

local function units_of(key, who)
  return tonumber(redis.call('HGET', key, who) or '0')
end

local function limit_ok(limit, used, q)
  return limit <= 0 or used + q <= limit
end

local function sub_units(key, who, q)
  if redis.call('HINCRBY', key, who, -q) <= 0 then redis.call('HDEL', key, who) end
end

-- The round's channels as a set (meta.channels is comma separated).
local function channels_of(meta)
  local channels = {}
  for ch in string.gmatch(meta.channels, '[^,]+') do channels[ch] = true end
  return channels
end

-- Checks that do not depend on this buyer's history (reserve.lua, and a bucketed round's limit
-- token in limits.lua); their refusals are not stored.
local function gate(meta, channels, now, q, ch, av, num)
  if meta.status == 'paused' then return R.paused end
  if meta.status == 'closed' then return R.ended end
  if now < tonumber(meta.starts_ms) then return R.not_started end
  if now >= tonumber(meta.ends_ms) then return R.ended end
  if not channels[ch] then return R.channel_not_allowed end
  if av ~= meta.agreement_version then return R.agreement_outdated end
  if q < 1 or q ~= math.floor(q) or (num ~= '' and q ~= 1) then return R.invalid_request end
  return nil
end

-- THE check of a reservation, shared by reserve.lua and a late payment (confirm.lua): why
-- quantity units for this buyer, ID hash and number ('' = none) cannot be taken now, or nil.
-- `left` is the round's stock. Every code but sold_out is about this buyer or number and is
-- stored as the Idempotency-Key's outcome (inventory/refusals.py says which).
local function take_refusal(meta, left, buyer_id, id_hash, quantity, number)
  if not limit_ok(tonumber(meta.per_account_limit), units_of(K.acct, buyer_id), quantity) or
     not limit_ok(tonumber(meta.per_id_limit), units_of(K.idn, id_hash), quantity) then
    return R.limit_reached
  end
  if number ~= '' then
    if meta.number_choice ~= '1' then return R.number_choice_disabled end
    if redis.call('SISMEMBER', K.numbers, number) == 0 then
      if redis.call('HEXISTS', K.numowner, number) == 1 then return R.number_taken end
      return R.number_unknown
    end
  end
  if meta.status == 'sold_out' or left < quantity then return R.sold_out end
  return nil
end

-- Take the order's units: stock, account and ID counters, chosen number. Returns units left.
local function take_units(oid, o, now)
  local left = redis.call('DECRBY', K.stock, o.quantity)
  redis.call('HINCRBY', K.acct, o.buyer_id, o.quantity)
  redis.call('HINCRBY', K.idn, o.id_hash, o.quantity)
  if o.number ~= '' then
    redis.call('SREM', K.numbers, o.number)
    redis.call('HSET', K.numowner, o.number, oid)
  end
  if left == 0 then redis.call('HSETNX', K.counters, 'sold_out_at_ms', now) end
  return left
end

-- Release a reserved order (expiry or cancellation): units back exactly once.
local function release_order(oid, o, status, now)
  redis.call('INCRBY', K.stock, o.quantity)
  sub_units(K.acct, o.buyer_id, o.quantity)
  sub_units(K.idn, o.id_hash, o.quantity)
  if o.number ~= '' and redis.call('HGET', K.numowner, o.number) == oid then
    redis.call('HDEL', K.numowner, o.number)
    redis.call('SADD', K.numbers, o.number)
  end
  redis.call('ZREM', K.holds, oid)
  count('held', -o.quantity)
  count('released', o.quantity)
  -- a bucket's order holds a limit token of its round: journal it for return (exactly once,
  -- by generation: inventory/_buckets.py gives it back to the round's tag)
  if o.token then redis.call('HSET', K.tokdue, o.token, o.tg) end
  o.status = status
  o.seq = o.seq + 1
  put_order(oid, o)
  emit(oid, o, 'order.' .. status, now, '{"reason":' .. enc(status) .. '}')
end
