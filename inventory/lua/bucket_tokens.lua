-- A bucket's side of its round's limit tokens (inventory/_buckets.py). A.op:
--   due    A.count: one HSCAN step of the tokens of released orders still to give back to the
--          round: {field, generation, ...} (flat).
--   done   A.items = [[token, gen], ...]: those were given back (dropped if still that gen).
--   has    A.tokens = [token, ...]: the order id each reserved here ('' = none): a token is
--          its key's field, so the key's stored outcome here says.
local op = A.op
if op == 'due' then
  return redis.call('HSCAN', K.tokdue, '0', 'COUNT', A.count)[2]
elseif op == 'done' then
  for _, r in ipairs(A.items) do
    if tonumber(redis.call('HGET', K.tokdue, r[1]) or '-1') == r[2] then
      redis.call('HDEL', K.tokdue, r[1])
    end
  end
  return 1
elseif op == 'has' then
  local out = {}
  for i, t in ipairs(A.tokens) do
    local o = hget_json(K.idem, t)
    out[i] = (o and o.code == '' and o.order_id) or ''
  end
  return out
end
return redis.error_reply('bucket_tokens: unknown op')
