-- Join (ARGV[2] = '1') and/or look at the waiting room of a round, advancing admissions.
-- KEYS: options (hash), queue (zset), cursor (hash), round meta (hash, starts_ms).
-- ARGV: buyer, join ('1'/'0'), random score for an entrant arriving before the start.
-- Entrants before the start get a random score (the shuffle, fixed when they join, never shown
-- before the start); later ones 2^52 + their join time, so behind everyone who came earlier.
-- The cursor moves at `rate` per second and never past the queue's length (unused capacity does
-- not pile up): the entrant at rank r is admitted once floor(cursor) > r.
-- Returns {state, rank, cursor*1000, length, rate, starts_ms, now_ms}; state: off | unknown |
-- absent | before | queued | admitted.
local opts = redis.call('HMGET', KEYS[1], 'room', 'rate')
if opts[1] ~= '1' then return {'off'} end
local rate = tonumber(opts[2]) or 0
local starts = tonumber(redis.call('HGET', KEYS[4], 'starts_ms'))
if not starts then return {'unknown'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '1' then
  local score = tonumber(ARGV[3])
  if now >= starts then score = 4503599627370496 + now end
  redis.call('ZADD', KEYS[2], 'NX', score, ARGV[1])
end
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
if not rank then return {'absent', -1, 0, 0, rate, starts, now} end
if now < starts then return {'before', -1, 0, 0, rate, starts, now} end
local length = redis.call('ZCARD', KEYS[2])
local state = redis.call('HMGET', KEYS[3], 'cursor', 'last_ms')
local cursor = tonumber(state[1]) or 0
local last = math.max(tonumber(state[2]) or starts, starts)
if now > last and rate > 0 then
  cursor = math.min(length, cursor + (now - last) * rate / 1000)
  redis.call('HSET', KEYS[3], 'cursor', string.format('%.6f', cursor), 'last_ms', now)
end
local verdict = 'queued'
if rank < math.floor(cursor) then verdict = 'admitted' end
return {verdict, rank, math.floor(cursor * 1000), length, rate, starts, now}
