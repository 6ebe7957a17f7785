-- The limit tokens of a bucketed round, under the round's own tag (inventory/_buckets.py).
-- The per-account and per-ID counters (K.acct, K.idn) and the (buyer, Idempotency-Key) routes
-- (K.idem) live here, never in a bucket, so landing in two buckets cannot beat a limit.
-- A token (K.tokens field = its id, a decimal string):
--   {buyer_id, id_hash, quantity, ikey (the K.idem field), state, bucket, order_id, gen}
--   state   pending   taken, no bucket has (yet) reserved with it; K.tokdue holds its deadline
--           bound     a bucket reserved order_id with it (bucket = that bucket)
--           returned  its units were given back to the limits (the order expired or was
--                     cancelled); a late payment may take it again (op retake)
--   gen     how many times it was taken: a return names the generation it returns, so one
--           taking is returned at most once
-- A.op names the operation:
--   take     A.items = [[buyer_id, id_hash, quantity, ikey, fingerprint, channel,
--            agreement_version, number], ...], A.grace_ms. Per item {code ('' = taken), token,
--            bucket, until_ms, state}: state 'new' (a fresh token, until_ms its deadline),
--            'bound' (the key's earlier attempt reserved in bucket: replay it there) or
--            'replay' (code is the key's stored refusal).
--   bind     A.items = [[token, bucket, order_id], ...]. Returns how many were bound now.
--   return   A.items = [[token, gen, forget (0/1)], ...]: give the token's units back (if
--            it is not returned and gen is its generation); forget also drops the token and
--            the key's route (no bucket took it: a retry is evaluated again). {1|0, ...}.
--   retake   A.token: a late payment takes the token again. Returns its new generation, or
--            -1 when the limits refuse (or the token is unknown).
--   expired  A.margin_ms, A.limit: pending tokens whose deadline passed margin_ms ago.
local op = A.op
local now = now_ms()

local function get_token(t) return hget_json(K.tokens, t) end
local function put_token(t, tok) hset_json(K.tokens, t, tok) end

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
    for i = 1, #A.items do out[i] = {R.not_armed, '', -1, 0, ''} end
    return out
  end
  local channels = channels_of(meta)
  local deadline = now + tonumber(A.grace_ms)
  for i, r in ipairs(A.items) do
    local buyer, idh, q, ikey, fp, ch, av = r[1], r[2], r[3], r[4], r[5], r[6], r[7]
    local prev = redis.call('HGET', K.idem, ikey)
    if prev then
      local p = cjson.decode(prev)
      if p.fingerprint ~= fp then
        out[i] = {R.idempotency_mismatch, '', -1, 0, ''}
      elseif p.code then
        out[i] = {p.code, '', -1, 0, 'replay'}
      else
        local tok = get_token(p.token)
        if tok.state == 'pending' then
          out[i] = {R.retry_later, '', -1, 0, ''}
        else
          out[i] = {'', p.token, tok.bucket, 0, 'bound'}
        end
      end
    else
      local num = r[8]
      local code = gate(meta, channels, now, q, ch, av, num)
      if not code and meta.status == 'sold_out' then code = R.sold_out end
      if not code and num ~= '' then  -- a bucketed round offers no number choice
        code = R.number_choice_disabled
        redis.call('HSET', K.idem, ikey, cjson.encode({fingerprint = fp, code = code}))
      end
      local tok = {buyer_id = buyer, id_hash = idh, quantity = q, ikey = ikey,
        state = 'pending', bucket = -1, order_id = '', gen = 1}
      if not code and not limits_allow(meta, tok) then
        code = R.limit_reached
        redis.call('HSET', K.idem, ikey, cjson.encode({fingerprint = fp, code = code}))
      end
      if code then
        out[i] = {code, '', -1, 0, ''}
      else
        local t = tostring(count('tokens', 1))
        add_units(tok, q)
        put_token(t, tok)
        redis.call('ZADD', K.tokdue, deadline, t)
        redis.call('HSET', K.idem, ikey, cjson.encode({fingerprint = fp, token = t}))
        out[i] = {'', t, -1, deadline, 'new'}
      end
    end
  end
  return out
elseif op == 'bind' then
  local bound = 0
  for _, r in ipairs(A.items) do
    local tok = get_token(r[1])
    if tok and tok.state == 'pending' then
      tok.state, tok.bucket, tok.order_id = 'bound', r[2], r[3]
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
    if tok and tok.state ~= 'returned' and tok.gen == gen then
      sub_units(K.acct, tok.buyer_id, tok.quantity)
      sub_units(K.idn, tok.id_hash, tok.quantity)
      redis.call('ZREM', K.tokdue, t)
      if forget == 1 and tok.state == 'pending' then
        redis.call('HDEL', K.idem, tok.ikey)
        redis.call('HDEL', K.tokens, t)
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
  if not tok then return -1 end
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
