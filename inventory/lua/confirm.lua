-- A: {order_id, payment_id, amount (integer, fen), tg (a bucket's order paid late: see below)}.
-- Returns {code ('' = paid), status, late (0/1), replay (0/1), refund ('' or its reason)}.
--
-- Exactly one payment is applied to an order, and only for the amount due that reserve.lua
-- stored with it (o.total_fen). Any other payment is kept in the order (o.refunds:
-- payment_id -> reason)
-- and announced by a payment.refund_required event (status unchanged, seq + 1):
--   amount_mismatch    the amount differs from the order's due (the order stays payable)
--   duplicate_payment  the order is already paid (or refund-required) by another payment
-- A payment that arrives after its hold expired re-reserves if it can, else the order becomes
-- refund_required (order.refund_required). Every call is idempotent per payment_id.
local oid, pid, amount = A.order_id, A.payment_id, A.amount
if type(oid) ~= 'string' or type(pid) ~= 'string' then
  return redis.error_reply('confirm: order_id and payment_id must be strings')
end
if type(amount) ~= 'number' or amount < 0 or amount ~= math.floor(amount) then
  return redis.error_reply('confirm: amount must be an integer >= 0')
end
local o = get_order(oid)
if not o then return {'unknown_order', '', 0, 0, ''} end
local now = now_ms()
local amount_json = string.format('%d', amount)

local function pay(late)
  o.status = 'paid'
  o.seq = o.seq + 1
  o.payment_id = pid
  o.amount_paid = amount
  o.late = late
  put_order(oid, o)
  count('paid', o.quantity)
  emit(oid, o, 'order.paid', now,
    '{"payment_id":' .. enc(pid) .. ',"amount":' .. amount_json .. ',"late":' .. tostring(late) .. '}')
end

-- The answer to a payment that is not applied, by its refund reason.
local function refused(reason, replay)
  local code = 'refund_required'
  if reason == 'amount_mismatch' then code = 'amount_mismatch'
  elseif o.status == 'paid' then code = 'already_paid' end
  return {code, o.status, (o.late and o.status == 'paid') and 1 or 0, replay, reason}
end

local function refund(reason)
  o.refunds = o.refunds or {}
  o.refunds[pid] = reason
  o.seq = o.seq + 1
  put_order(oid, o)
  emit(oid, o, 'payment.refund_required', now,
    '{"payment_id":' .. enc(pid) .. ',"amount":' .. amount_json .. ',"reason":' .. enc(reason) .. '}')
  return refused(reason, 0)
end

if o.payment_id == pid then  -- the applied payment again
  if o.status == 'paid' then return {'', 'paid', o.late and 1 or 0, 1, ''} end
  return {'refund_required', o.status, 0, 1, 'late_payment'}
end
if o.refunds and o.refunds[pid] then return refused(o.refunds[pid], 1) end
if o.status == 'paid' or o.status == 'refund_required' then return refund('duplicate_payment') end
if amount ~= tonumber(o.total_fen or -1) then return refund('amount_mismatch') end

if o.status == 'reserved' then
  redis.call('ZREM', K.holds, oid)
  count('held', -o.quantity)
  pay(false)
  return {'', 'paid', 0, 0, ''}
end
-- expired or cancelled: a late payment. Re-reserve if the units can still be taken, else refund.
-- A bucket's order: its round's limits were checked by re-taking the order's limit token first
-- (A.tg = the token's new generation, or -1 when the limits refused; inventory/_buckets.py).
local reason = nil
if o.token and (type(A.tg) ~= 'number' or A.tg < 0) then reason = R.limit_reached end
reason = reason or take_refusal(hgetall(K.meta), tonumber(redis.call('GET', K.stock) or '0'),
  o.buyer_id, o.id_hash, o.quantity, o.number)
if not reason then
  if o.token then
    o.tg = A.tg
    redis.call('HDEL', K.tokdue, o.token)
  end
  take_units(oid, o, now)
  pay(true)
  return {'', 'paid', 1, 0, ''}
end
o.status = 'refund_required'
o.seq = o.seq + 1
o.payment_id = pid
o.amount_paid = amount
put_order(oid, o)
count('refund_required', 1)
emit(oid, o, 'order.refund_required', now,
  '{"payment_id":' .. enc(pid) .. ',"amount":' .. amount_json .. ',"reason":' .. enc(reason) .. '}')
return {'refund_required', 'refund_required', 0, 0, 'late_payment'}
