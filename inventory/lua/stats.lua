-- A: {}. Returns {armed (0/1), stocked, left, held, paid, released, refund_required,
-- orders, sold_out_at_ms (-1 = never), status}.
local status = redis.call('HGET', K.meta, 'status')
if not status then return {0, 0, 0, 0, 0, 0, 0, 0, -1, ''} end
local c = hgetall(K.counters)
local function num(v) return tonumber(v or '0') end
return {1, num(c.stocked), num(redis.call('GET', K.stock)), num(c.held), num(c.paid),
  num(c.released), num(c.refund_required), num(c.orders), tonumber(c.sold_out_at_ms or '-1'),
  status}
