-- The limit tokens of a bucketed round, under the round's own tag (inventory/_buckets.py).
-- The per-account and per-ID counters (K.acct, K.idn) and the (buyer, Idempotency-Key) routes
-- live here, never in a bucket, so landing in two buckets cannot beat a limit.
-- A key's route is its limit token, one record in K.idem (field = the key's field, as in a
-- bucket: '<len(buyer)>:<buyer>:<key>', which is also the token's id):
--   {fingerprint, state, bucket, gen, buyer_id, id_hash, quantity}
--   state   pending   taken, no bucket has (yet) reserved with it; K.tokdue holds its deadline
--           bound     bucket `bucket` reserved an order with it (its outcome is stored there)
--           returned  its units were given back to the limits (the order expired or was
--                     cancelled); a late payment may take it again (op retake)
--   gen     how many times it was taken: a return names the generation it returns, so one
--           taking is returned at most once
-- A stored refusal of the key is {fingerprint, code} instead (limit_reached, number_*).
-- A.op names the operation:
--   take     A.items = [[buyer_id, id_hash, quantity, ikey, fingerprint, channel,
--            agreement_version, number], ...], A.grace_ms. Per item {code ('' = taken),
--            bucket, until_ms, state}: state 'new' (a fresh token, until_ms its deadline),
--            'bound' (the key's earlier attempt reserved in bucket: replay it there) or
--            'replay' (code is the key's stored refusal).
--   bind     A.items = [[ikey, bucket], ...]. Returns how many were bound now.
--   return   A.items = [[ikey, gen, forget (0/1)], ...]: give the token's units back (if
--            it is not returned and gen is its generation); forget also drops a pending
--            token, i.e. the key's route (no bucket took it: a retry is evaluated again).
--   retake   A.token (an ikey): a late payment takes the token again. Returns its new
--            generation, or -1 when the limits refuse (or the token is unknown).
--   expired  A.margin_ms, A.limit: pending tokens whose deadline passed margin_ms ago.
local op = A.op
local now = now_ms()

local function get_token(t) return hget_json(K.idem, t) end
local function put_token(t, tok) hset_json(K.idem, t, tok) end

local function add_units(tok, q)
  redis.call('HINCRBY', K.acct, tok.buyer_id, q)
  redis.call('HINCRBY', K.idn, tok.id_hash, q)
end

local function limits_allow(meta, tok)
  return limit_ok(tonumber(meta.per_account_limit), units_of(K.acct, tok.buyer_id), tok.quantity)
    and limit_ok(tonumber(meta.per_id_limit), units_of(K.idn, tok.id_hash), tok.quantity)
end

if op == 'take' then
  local meta = hgetall(K.meta)
  local out = {}
  if not meta.status then
    for i = 1, #A.items do out[i] = {R.not_armed, -1, 0, ''} end
    return out
  end
  local channels = channels_of(meta)
  local deadline = now + tonumber(A.grace_ms)
  for i, r in ipairs(A.items) do
    local buyer, idh, q, ikey, fp, ch, av, num = r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]
    local p = get_token(ikey)
    if p then
      if p.fingerprint ~= fp then
        out[i] = {R.idempotency_mismatch, -1, 0, ''}
      elseif p.code then
        out[i] = {p.code, -1, 0, 'replay'}
      elseif p.state == 'pending' then
        out[i] = {R.retry_later, -1, 0, ''}
      else
        out[i] = {'', p.bucket, 0, 'bound'}
      end
    else
      local code = gate(meta, channels, now, q, ch, av, num)
      if not code and meta.status == 'sold_out' then code = R.sold_out end
      local tok = {fingerprint = fp, state = 'pending', bucket = -1, gen = 1, buyer_id = buyer,
        id_hash = idh, quantity = q}
      if not code and num ~= '' then code = R.number_choice_disabled end  -- never bucketed
      if not code and not limits_allow(meta, tok) then code = R.limit_reached end
      if code == R.limit_reached or code == R.number_choice_disabled then
        put_token(ikey, {fingerprint = fp, code = code})
      end
      if code then
        out[i] = {code, -1, 0, ''}
      else
        add_units(tok, q)
        put_token(ikey, tok)
        redis.call('ZADD', K.tokdue, deadline, ikey)
        out[i] = {'', -1, deadline, 'new'}
      end
    end
  end
  return out
elseif op == 'bind' then
  local bound = 0
  for _, r in ipairs(A.items) do
    local tok = get_token(r[1])
    if tok and tok.state == 'pending' then
      tok.state, tok.bucket = 'bound', r[2]
      put_token(r[1], tok)
      redis.call('ZREM', K.tokdue, r[1])
      bound = bound + 1
    end
  end
  return bound
elseif op == 'return' then
  local out = {}
  for i, r in ipairs(A.items) do
    local t, gen, forget = r[1], r[2], r[3]
    local tok = get_token(t)
    out[i] = 0
    if tok and tok.state and tok.state ~= 'returned' and tok.gen == gen then
      sub_units(K.acct, tok.buyer_id, tok.quantity)
      sub_units(K.idn, tok.id_hash, tok.quantity)
      redis.call('ZREM', K.tokdue, t)
      if forget == 1 and tok.state == 'pending' then
        redis.call('HDEL', K.idem, t)
      else
        tok.state = 'returned'
        put_token(t, tok)
      end
      out[i] = 1
    end
  end
  return out
elseif op == 'retake' then
  local tok = get_token(A.token)
  if not tok or not tok.state then return -1 end
  if tok.state == 'returned' then
    if not limits_allow(hgetall(K.meta), tok) then return -1 end
    add_units(tok, tok.quantity)
    tok.state = 'bound'
  end
  tok.gen = tok.gen + 1
  put_token(A.token, tok)
  return tok.gen
elseif op == 'expired' then
  return redis.call('ZRANGEBYSCORE', K.tokdue, '-inf', '(' .. (now - A.margin_ms), 'LIMIT', 0,
    A.limit)
end
return redis.error_reply('limits: unknown op')
