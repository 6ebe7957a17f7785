-- A batch of reservation requests, processed in order, atomically.
-- ARGV: round_id, then ONE JSON array of requests, each [buyer_id, id_hash, quantity,
--       idempotency_key, fingerprint, channel, agreement_version, number ('' = none), pii_json]
--       (one argument for the whole batch: cheap to send, decoded once in C by cjson).
-- Returns {results, offers}: results[i] = {code ('' = ok), order_id, pay_before_ms, left,
-- replay (0/1), offer_version, price_fen, surcharge_fen, total_fen}; offers = flat
-- {version, json, ...} for the versions named.
--
-- Money: an order's amount due is fixed here, from the snapshot it keeps: price_fen (the
-- offer's unit price) x quantity + the chosen number's surcharge (numfee). It is stored with
-- the order (o.pr, o.fee, o.due), in the stored outcome and in the order.reserved event, and
-- confirm.lua accepts exactly that amount.
--
-- What is stored as the (buyer, Idempotency-Key)'s outcome: a success, and a refusal that
-- depends on this buyer or this number (limit_reached, number_*). Never stored (a retry is
-- evaluated again): the gates (paused, not_started, ended, channel, agreement, invalid) and
-- sold_out, which is transient like paused: units can come back (expiry, cancellation,
-- restock) and a retry with the same key may then buy. The per-worker sold-out shortcut in
-- inventory/service.py follows the same rule, so both paths give one answer.
--
-- Robustness: every item's types are checked before anything is written (a malformed item is
-- answered invalid_request and takes nothing), and the order counter is incremented per created
-- order, so even a script that fails midway can never hand out an order id twice.
local reqs = cjson.decode(ARGV[2])
if type(reqs) ~= 'table' then return redis.error_reply('reserve: the batch is not a JSON array') end
local n = #reqs
local results = {}
local meta = hgetall(K.meta)
local left = tonumber(redis.call('GET', K.stock) or '0')

local function malformed(r)
  if type(r) ~= 'table' then return true end
  local buyer, idh, q, key, fp, ch, av, num, pii = r[1], r[2], r[3], r[4], r[5], r[6], r[7],
    r[8], r[9]
  return type(buyer) ~= 'string' or buyer == '' or type(idh) ~= 'string' or
    type(q) ~= 'number' or type(key) ~= 'string' or key == '' or type(fp) ~= 'string' or
    type(ch) ~= 'string' or type(av) ~= 'string' or type(num) ~= 'string' or
    type(pii) ~= 'string' or string.sub(pii, 1, 1) ~= '{' or string.sub(pii, -1) ~= '}'
end
local bad = {}
for i = 1, n do bad[i] = malformed(reqs[i]) end

if not meta.status then
  for i = 1, n do results[i] = {'not_armed', '', 0, 0, 0, '', 0, 0, 0} end
  return {results, {}}
end

local now = now_ms()
local starts, ends = tonumber(meta.starts_ms), tonumber(meta.ends_ms)
local hold_ms = tonumber(meta.hold_ms)
local acct_limit, id_limit = tonumber(meta.per_account_limit), tonumber(meta.per_id_limit)
local channels = {}
for ch in string.gmatch(meta.channels, '[^,]+') do channels[ch] = true end
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

-- Checks that do not depend on this buyer's history; their refusals are not stored.
local function gate(q, ch, av, num)
  if meta.status == 'paused' then return 'paused' end
  if meta.status == 'closed' then return 'ended' end
  if now < starts then return 'not_started' end
  if now >= ends then return 'ended' end
  if not channels[ch] then return 'channel_not_allowed' end
  if av ~= meta.agreement_version then return 'agreement_outdated' end
  if q < 1 or q ~= math.floor(q) or (num ~= '' and q ~= 1) then return 'invalid_request' end
  return nil
end

-- Checks that depend on the round's and the buyer's state (only sold_out is not stored).
local function decide(buyer, idh, q, num)
  if not limit_ok(acct_limit, units_of(K.acct, buyer), q) or
     not limit_ok(id_limit, units_of(K.idn, idh), q) then
    return 'limit_reached'
  end
  if num ~= '' then
    if meta.number_choice ~= '1' then return 'number_choice_disabled' end
    if redis.call('SISMEMBER', K.numbers, num) == 0 then
      if redis.call('HEXISTS', K.numowner, num) == 1 then return 'number_taken' end
      return 'number_unknown'
    end
  end
  if meta.status == 'sold_out' or left < q then return 'sold_out' end
  return nil
end

for i = 1, n do
  local r = reqs[i]
  if bad[i] then
    results[i] = {'invalid_request', '', 0, left, 0, '', 0, 0, 0}
  else
    local buyer, idh, q, key = r[1], r[2], r[3], r[4]
    local fp, ch, av, num, pii = r[5], r[6], r[7], r[8], r[9]
    local ikey = #buyer .. ':' .. buyer .. ':' .. key
    local prev = redis.call('HGET', K.idem, ikey)
    if prev then
      local p = cjson.decode(prev)
      if p.fp ~= fp then
        results[i] = {'idempotency_mismatch', '', 0, left, 0, '', 0, 0, 0}
      else
        if p.ver ~= '' then versions[p.ver] = true end
        results[i] = {p.code, p.oid, p.pb, left, 1, p.ver, p.pr or 0, p.fee or 0, p.due or 0}
      end
    else
      local code = gate(q, ch, av, num)
      if code then
        results[i] = {code, '', 0, left, 0, '', 0, 0, 0}
      else
        code = decide(buyer, idh, q, num)
        if code then
          if code ~= 'sold_out' then
            redis.call('HSET', K.idem, ikey,
              cjson.encode({fp = fp, code = code, oid = '', pb = 0, ver = ''}))
          end
          results[i] = {code, '', 0, left, 0, '', 0, 0, 0}
        else
          local oid = ROUND .. '-' .. count('orders', 1)
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
          local o = {status = 'reserved', seq = 1, buyer = buyer, idh = idh, q = q, num = num,
            ch = ch, av = av, dl = deadline, at = now, ver = ver, pay = '', amt = 0, late = false,
            pr = price, fee = fee, due = due}
          left = take_units(oid, o, now)
          put_order(oid, o)
          redis.call('ZADD', K.holds, deadline, oid)
          count('held', q)
          redis.call('HSET', K.idem, ikey, cjson.encode({fp = fp, code = '', oid = oid,
            pb = deadline, ver = ver, pr = price, fee = fee, due = due}))
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
