-- A: {order_id, reason ('expired' | 'cancelled', the order's new status)}.
-- Returns 1 when released now, 0 when the order was not reserved (already released or paid),
-- -1 when the order is unknown.
local o = get_order(A.order_id)
if not o then return -1 end
if o.status ~= 'reserved' then return 0 end
release_order(A.order_id, o, A.reason, now_ms())
return 1
