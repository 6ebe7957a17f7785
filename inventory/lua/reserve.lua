-- A batch of reservation requests, processed in order, atomically.
-- ARGV: round_id, then ONE JSON array of requests, each [buyer_id, id_hash, quantity,
--       idempotency_key, fingerprint, channel, agreement_version, number ('' = none), pii_json]
--       (one argument for the whole batch: cheap to send, decoded once in C by cjson).
-- Returns {results, offers}: results[i] = {code ('' = ok), order_id, pay_before_ms, left,
-- replay (0/1), offer_version}; offers = flat {version, json, ...} for the versions named.
local reqs = cjson.decode(ARGV[2])
local n = #reqs
local results = {}
local meta = hgetall(K.meta)
local left = tonumber(redis.call('GET', K.stock) or '0')

if not meta.status then
  for i = 1, n do results[i] = {'not_armed', '', 0, 0, 0, ''} end
  return {results, {}}
end

local now = now_ms()
local starts, ends = tonumber(meta.starts_ms), tonumber(meta.ends_ms)
local hold_ms = tonumber(meta.hold_ms)
local acct_limit, id_limit = tonumber(meta.per_account_limit), tonumber(meta.per_id_limit)
local channels = {}
for ch in string.gmatch(meta.channels, '[^,]+') do channels[ch] = true end
local versions = {}
-- Per-batch accumulators, written once at the end (fewer Redis calls per reservation).
local next_order = tonumber(redis.call('HGET', K.counters, 'orders') or '0')
local created, held_added = 0, 0
local offer_json = {}
local function offer_of(ver)
  local json = offer_json[ver]
  if not json then
    json = redis.call('HGET', K.offers, ver) or '{}'
    offer_json[ver] = json
  end
  return json
end

-- Checks that do not depend on this buyer's history; their refusals are not stored.
local function gate(q, ch, av, num)
  if meta.status == 'paused' then return 'paused' end
  if meta.status == 'closed' then return 'ended' end
  if now < starts then return 'not_started' end
  if now >= ends then return 'ended' end
  if not channels[ch] then return 'channel_not_allowed' end
  if av ~= meta.agreement_version then return 'agreement_outdated' end
  if not q or q < 1 or q ~= math.floor(q) or (num ~= '' and q ~= 1) then
    return 'invalid_request'
  end
  return nil
end

-- Checks whose refusal is the request's stored outcome.
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
  local buyer, idh, q, key = r[1], r[2], tonumber(r[3]), r[4]
  local fp, ch, av, num, pii = r[5], r[6], r[7], r[8], r[9]
  local ikey = #buyer .. ':' .. buyer .. ':' .. key
  local prev = redis.call('HGET', K.idem, ikey)
  if prev then
    local p = cjson.decode(prev)
    if p.fp ~= fp then
      results[i] = {'idempotency_mismatch', '', 0, left, 0, ''}
    else
      if p.ver ~= '' then versions[p.ver] = true end
      results[i] = {p.code, p.oid, p.pb, left, 1, p.ver}
    end
  else
    local code = gate(q, ch, av, num)
    if code then
      results[i] = {code, '', 0, left, 0, ''}
    else
      code = decide(buyer, idh, q, num)
      if code then
        redis.call('HSET', K.idem, ikey, cjson.encode({fp = fp, code = code, oid = '', pb = 0, ver = ''}))
        results[i] = {code, '', 0, left, 0, ''}
      else
        next_order = next_order + 1
        created = created + 1
        local oid = ROUND .. '-' .. next_order
        local deadline = now + hold_ms
        local ver = meta.offer_version
        local o = {status = 'reserved', seq = 1, buyer = buyer, idh = idh, q = q, num = num, ch = ch,
          av = av, dl = deadline, at = now, ver = ver, pay = '', amt = 0, late = false}
        left = take_units(oid, o, now)
        put_order(oid, o)
        redis.call('ZADD', K.holds, deadline, oid)
        held_added = held_added + q
        redis.call('HSET', K.idem, ikey, cjson.encode({fp = fp, code = '', oid = oid, pb = deadline, ver = ver}))
        local number_json, fee_json = 'null', 'null'
        if num ~= '' then
          number_json = enc(num)
          local fee = redis.call('HGET', K.numfee, num)
          if fee then fee_json = fee end
        end
        local data = '{"buyer_id":' .. enc(buyer) .. ',"id_hash":' .. enc(idh) ..
          ',"quantity":' .. q .. ',"number":' .. number_json .. ',"number_surcharge":' .. fee_json ..
          ',"channel":' .. enc(ch) .. ',"agreement_version":' .. enc(av) ..
          ',"offer_id":' .. enc(meta.offer_id) ..
          ',"offer":' .. offer_of(ver) .. ',"pay_before":' .. deadline ..
          ',"pii":' .. pii .. '}'
        emit(oid, o, 'order.reserved', now, data)
        versions[ver] = true
        results[i] = {'', oid, deadline, left, 0, ver}
      end
    end
  end
end

if created > 0 then
  redis.call('HSET', K.counters, 'orders', next_order)
  count('held', held_added)
end
local offers = {}
for ver, _ in pairs(versions) do
  offers[#offers + 1] = ver
  offers[#offers + 1] = offer_of(ver)
end
return {results, offers}
