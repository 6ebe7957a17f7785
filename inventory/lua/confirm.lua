-- ARGV: round_id, order_id, payment_id, amount (integer, minor units).
-- Returns {code ('' = paid), status, late (0/1), replay (0/1)}.
local oid, pid, amount = ARGV[2], ARGV[3], tonumber(ARGV[4])
local o = get_order(oid)
if not o then return {'unknown_order', '', 0, 0} end
local now = now_ms()

local function pay(late)
  o.status = 'paid'
  o.seq = o.seq + 1
  o.pay = pid
  o.amt = amount
  o.late = late
  put_order(oid, o)
  count('paid', o.q)
  emit(oid, o, 'order.paid', now,
    '{"payment_id":' .. enc(pid) .. ',"amount":' .. ARGV[4] .. ',"late":' .. tostring(late) .. '}')
end

if o.status == 'reserved' then
  redis.call('ZREM', K.holds, oid)
  count('held', -o.q)
  pay(false)
  return {'', 'paid', 0, 0}
end
if o.status == 'paid' then
  local late = o.late and 1 or 0
  if o.pay == pid then return {'', 'paid', late, 1} end
  return {'already_paid', 'paid', late, 0}
end
if o.status == 'refund_required' then
  return {'refund_required', 'refund_required', 0, (o.pay == pid) and 1 or 0}
end
-- expired or cancelled: a late payment. Re-reserve if the units can still be taken, else refund.
local reason = take_refusal(hgetall(K.meta), o)
if not reason then
  take_units(oid, o, now)
  pay(true)
  return {'', 'paid', 1, 0}
end
o.status = 'refund_required'
o.seq = o.seq + 1
o.pay = pid
o.amt = amount
put_order(oid, o)
count('refund_required', 1)
emit(oid, o, 'order.refund_required', now,
  '{"payment_id":' .. enc(pid) .. ',"reason":' .. enc(reason) .. '}')
return {'refund_required', 'refund_required', 0, 0}
