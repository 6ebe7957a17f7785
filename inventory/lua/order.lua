-- ARGV: round_id, order_id. Returns {order_json, offer_json} or {} when unknown.
local raw = redis.call('HGET', K.orders, ARGV[2])
if not raw then return {} end
local o = cjson.decode(raw)
return {raw, redis.call('HGET', K.offers, o.ver) or '{}'}
