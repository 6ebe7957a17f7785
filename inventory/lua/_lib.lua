-- Shared prelude of every inventory script (prepended by inventory/_scripts.py).
-- KEYS are RoundKeys.script_keys(), in this order; all carry the round's hash tag.
-- ARGV[1] is always the round id.
local K = {
  meta = KEYS[1], stock = KEYS[2], counters = KEYS[3], acct = KEYS[4], idn = KEYS[5],
  numbers = KEYS[6], numowner = KEYS[7], orders = KEYS[8], holds = KEYS[9], idem = KEYS[10],
  outbox = KEYS[11], offers = KEYS[12], restocks = KEYS[13], numfee = KEYS[14],
}
local ROUND = ARGV[1]

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

local function get_order(oid)
  local raw = redis.call('HGET', K.orders, oid)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function put_order(oid, o)
  redis.call('HSET', K.orders, oid, cjson.encode(o))
end

local function count(field, n)
  return redis.call('HINCRBY', K.counters, field, n)
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

-- Why the order's units cannot be (re)taken now, or nil if they can.
local function take_refusal(meta, o)
  if not limit_ok(tonumber(meta.per_account_limit), units_of(K.acct, o.buyer), o.q) or
     not limit_ok(tonumber(meta.per_id_limit), units_of(K.idn, o.idh), o.q) then
    return 'limit_reached'
  end
  if o.num ~= '' and redis.call('SISMEMBER', K.numbers, o.num) == 0 then return 'number_taken' end
  if tonumber(redis.call('GET', K.stock) or '0') < o.q then return 'sold_out' end
  return nil
end

-- Take the order's units: stock, account and ID counters, chosen number. Returns units left.
local function take_units(oid, o, now)
  local left = redis.call('DECRBY', K.stock, o.q)
  redis.call('HINCRBY', K.acct, o.buyer, o.q)
  redis.call('HINCRBY', K.idn, o.idh, o.q)
  if o.num ~= '' then
    redis.call('SREM', K.numbers, o.num)
    redis.call('HSET', K.numowner, o.num, oid)
  end
  if left == 0 then redis.call('HSETNX', K.counters, 'sold_out_at_ms', now) end
  return left
end

-- Release a reserved order (expiry or cancellation): units back exactly once.
local function release_order(oid, o, status, now)
  redis.call('INCRBY', K.stock, o.q)
  sub_units(K.acct, o.buyer, o.q)
  sub_units(K.idn, o.idh, o.q)
  if o.num ~= '' and redis.call('HGET', K.numowner, o.num) == oid then
    redis.call('HDEL', K.numowner, o.num)
    redis.call('SADD', K.numbers, o.num)
  end
  redis.call('ZREM', K.holds, oid)
  count('held', -o.q)
  count('released', o.q)
  o.status = status
  o.seq = o.seq + 1
  put_order(oid, o)
  emit(oid, o, 'order.' .. status, now, '{"reason":' .. enc(status) .. '}')
end
