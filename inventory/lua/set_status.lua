-- A: {status}. Returns 1, or -1 when the round is not armed.
if redis.call('EXISTS', K.meta) == 0 then return -1 end
redis.call('HSET', K.meta, 'status', A.status)
return 1
