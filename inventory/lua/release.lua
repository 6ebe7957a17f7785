-- ARGV: round_id, order_id, status ('expired' | 'cancelled').
-- Returns 1 when released now, 0 when the order was not reserved (already released or paid),
-- -1 when the order is unknown.
local o = get_order(ARGV[2])
if not o then return -1 end
if o.status ~= 'reserved' then return 0 end
release_order(ARGV[2], o, ARGV[3], now_ms())
return 1
