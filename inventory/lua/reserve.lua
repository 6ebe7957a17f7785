-- A batch of reservation requests, processed in order, atomically.
-- A: {items = [item, ...]}, each item in the compact form of inventory/models.py RESERVE_ITEM:
--    an array read by name through ITEM (r[ITEM.buyer_id], r[ITEM.quantity], ...): buyer_id,
--    id_hash, quantity, key (Idempotency-Key), fingerprint, channel, agreement_version,
--    number ('' = none), pii (JSON object text). Arrays, not objects: the batch is the hot
--    path and cjson decodes an array of 9 values a third faster than an object of 9 names.
-- Returns {results, offers}: results[i] = {code ('' = ok, else an R code), order_id,
-- pay_before_ms, left, replay (0/1), offer_version, price_fen, surcharge_fen, total_fen};
-- offers = flat {version, json, ...} for the versions named.
--
-- Money: an order's amount due is fixed here, from the snapshot it keeps: price_fen (the
-- offer's unit price) x quantity + the chosen number's surcharge (numfee). It is stored with
-- the order (price_fen, surcharge_fen, total_fen), in the stored outcome and in the
-- order.reserved event, and confirm.lua accepts exactly that amount.
--
-- What is stored as the (buyer, Idempotency-Key)'s outcome (K.idem field -> {fingerprint, code,
-- order_id, pay_before_ms, offer_version, price_fen, surcharge_fen, total_fen}): a success,
-- and a refusal of take_refusal (_lib.lua) other than sold_out, i.e. one that depends on this
-- buyer or this number (limit_reached, number_*). Never stored (a retry is evaluated
-- again): the gates (paused, not_started, ended, channel, agreement, invalid) and
-- sold_out, which is transient like paused: units can come back (expiry, cancellation,
-- restock) and a retry with the same key may then buy. While the round's sold-out lease
-- holds (sold_out.lua), every request without a stored outcome is answered sold_out here,
-- which is what the per-worker sold-out knowledge (inventory/_soldout.py) answers without
-- calling: both paths give one answer.
--
-- Robustness: every item's types are checked before anything is written (a malformed item is
-- answered invalid_request and takes nothing), and the order counter is incremented per created
-- order, so even a script that fails midway can never hand out an order id twice.
local reqs = A.items
if type(reqs) ~= 'table' then return redis.error_reply('reserve: items is not a JSON array') end
local n = #reqs
local results = {}
local meta = hgetall(K.meta)
local left = tonumber(redis.call('GET', K.stock) or '0')
local I_BUYER, I_IDH, I_Q, I_KEY, I_FP = ITEM.buyer_id, ITEM.id_hash, ITEM.quantity, ITEM.key,
  ITEM.fingerprint
local I_CH, I_AV, I_NUM, I_PII = ITEM.channel, ITEM.agreement_version, ITEM.number, ITEM.pii
-- In a bucket of a bucketed round every item also carries its round's limit token and the
-- token's deadline: past it the bucket refuses (retry_later), so a late reservation and the
-- token's return after its deadline (inventory/_buckets.py) cannot both happen.
local I_TOK, I_TUNTIL = ITEM.token, ITEM.token_until

local function malformed(r)
  if type(r) ~= 'table' then return true end
  local buyer, idh, q, key, fp = r[I_BUYER], r[I_IDH], r[I_Q], r[I_KEY], r[I_FP]
  local ch, av, num, pii = r[I_CH], r[I_AV], r[I_NUM], r[I_PII]
  return type(buyer) ~= 'string' or buyer == '' or type(idh) ~= 'string' or
    type(q) ~= 'number' or type(key) ~= 'string' or key == '' or type(fp) ~= 'string' or
    type(ch) ~= 'string' or type(av) ~= 'string' or type(num) ~= 'string' or
    type(pii) ~= 'string' or string.sub(pii, 1, 1) ~= '{' or string.sub(pii, -1) ~= '}' or
    (r[I_TOK] ~= nil and (type(r[I_TOK]) ~= 'string' or type(r[I_TUNTIL]) ~= 'number'))
end
local bad = {}
for i = 1, n do bad[i] = malformed(reqs[i]) end

if not meta.status then
  for i = 1, n do results[i] = {R.not_armed, '', 0, 0, 0, '', 0, 0, 0} end
  return {results, {}}
end

local now = now_ms()
-- While the sold-out lease holds (sold_out.lua), nothing is sold and nothing new is stored.
local leased = tonumber(redis.call('HGET', K.soldout, 'until') or '0') > now
local hold_ms = tonumber(meta.hold_ms)
local channels = channels_of(meta)
local versions = {}
local offer_json, offer_price = {}, {}
local function offer_of(ver)
  local json = offer_json[ver]
  if not json then
    json = redis.call('HGET', K.offers, ver) or '{}'
    offer_json[ver] = json
  end
  return json
end
-- The snapshot's unit price in fen (0 when it names none: such an order is not payable).
local function price_of(ver)
  local p = offer_price[ver]
  if p == nil then
    local ok, offer = pcall(cjson.decode, offer_of(ver))
    p = ok and type(offer) == 'table' and offer.price_fen or 0
    if type(p) ~= 'number' or p < 0 or p ~= math.floor(p) then p = 0 end
    offer_price[ver] = p
  end
  return p
end

for i = 1, n do
  local r = reqs[i]
  if bad[i] then
    results[i] = {R.invalid_request, '', 0, left, 0, '', 0, 0, 0}
  else
    local buyer, idh, q, key = r[I_BUYER], r[I_IDH], r[I_Q], r[I_KEY]
    local fp, ch, av, num, pii = r[I_FP], r[I_CH], r[I_AV], r[I_NUM], r[I_PII]
    local ikey = #buyer .. ':' .. buyer .. ':' .. key
    local prev = redis.call('HGET', K.idem, ikey)
    if prev then
      local p = cjson.decode(prev)
      if p.fingerprint ~= fp then
        results[i] = {R.idempotency_mismatch, '', 0, left, 0, '', 0, 0, 0}
      else
        if p.offer_version ~= '' then versions[p.offer_version] = true end
        results[i] = {p.code, p.order_id, p.pay_before_ms, left, 1, p.offer_version,
          p.price_fen or 0, p.surcharge_fen or 0, p.total_fen or 0}
      end
    elseif leased then
      results[i] = {R.sold_out, '', 0, left, 0, '', 0, 0, 0}
    elseif r[I_TOK] and now > r[I_TUNTIL] then
      results[i] = {R.retry_later, '', 0, left, 0, '', 0, 0, 0}
    else
      local code = gate(meta, channels, now, q, ch, av, num)
      if code then
        results[i] = {code, '', 0, left, 0, '', 0, 0, 0}
      else
        code = take_refusal(meta, left, buyer, idh, q, num)
        if code then
          if code ~= R.sold_out then
            redis.call('HSET', K.idem, ikey, cjson.encode({fingerprint = fp, code = code,
              order_id = '', pay_before_ms = 0, offer_version = ''}))
          end
          results[i] = {code, '', 0, left, 0, '', 0, 0, 0}
        else
          local oid = ROUND .. '-' .. next_order_number()
          local deadline = now + hold_ms
          local ver = meta.offer_version
          local price = price_of(ver)
          local fee, number_json, fee_json = 0, 'null', 'null'
          if num ~= '' then
            number_json = enc(num)
            local raw_fee = tonumber(redis.call('HGET', K.numfee, num) or '')
            if raw_fee then
              fee = raw_fee
              fee_json = string.format('%d', fee)
            end
          end
          local due = price * q + fee
          local o = {status = 'reserved', seq = 1, buyer_id = buyer, id_hash = idh, quantity = q,
            number = num, channel = ch, agreement_version = av, pay_before_ms = deadline,
            reserved_at_ms = now, offer_version = ver, payment_id = '', amount_paid = 0,
            late = false, price_fen = price, surcharge_fen = fee, total_fen = due}
          if r[I_TOK] then o.token, o.tg = r[I_TOK], 1 end
          left = take_units(oid, o, now)
          put_order(oid, o)
          redis.call('ZADD', K.holds, deadline, oid)
          count('held', q)
          redis.call('HSET', K.idem, ikey, cjson.encode({fingerprint = fp, code = '',
            order_id = oid, pay_before_ms = deadline, offer_version = ver, price_fen = price,
            surcharge_fen = fee, total_fen = due}))
          local data = '{"buyer_id":' .. enc(buyer) .. ',"id_hash":' .. enc(idh) ..
            ',"quantity":' .. q .. ',"number":' .. number_json ..
            ',"price_fen":' .. string.format('%d', price) .. ',"number_surcharge":' .. fee_json ..
            ',"total_fen":' .. string.format('%d', due) ..
            ',"channel":' .. enc(ch) .. ',"agreement_version":' .. enc(av) ..
            ',"offer_id":' .. enc(meta.offer_id) ..
            ',"offer":' .. offer_of(ver) .. ',"pay_before":' .. deadline ..
            ',"pii":' .. pii .. '}'
          emit(oid, o, 'order.reserved', now, data)
          versions[ver] = true
          results[i] = {'', oid, deadline, left, 0, ver, price, fee, due}
        end
      end
    end
  end
end

local offers = {}
for ver, _ in pairs(versions) do
  offers[#offers + 1] = ver
  offers[#offers + 1] = offer_of(ver)
end
return {results, offers}
