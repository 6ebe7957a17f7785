-- A: {order_id}. Returns {order_json, offer_json} or {} when unknown.
local raw = redis.call('HGET', K.orders, A.order_id)
if not raw then return {} end
local o = cjson.decode(raw)
return {raw, redis.call('HGET', K.offers, o.offer_version) or '{}'}
