-- A: {ends_ms}. Returns 1, or -1 when the round is not armed.
if redis.call('EXISTS', K.meta) == 0 then return -1 end
redis.call('HSET', K.meta, 'ends_ms', A.ends_ms)
return 1
