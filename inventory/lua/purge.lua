-- Delete every key of a finished round, once nothing happened since it was archived.
-- KEYS: RoundKeys.script_keys() (so K.* of _lib.lua apply), then every other key of the round.
-- A: {last_id = the outbox's last entry id when the archive was taken ('' = no stream then),
--     check = true: only answer whether the purge would go ahead (nothing is deleted)}.
-- Returns {'', keys deleted} or {reason, 0} when the round moved on (nothing is deleted):
--   changed  an event was appended to the outbox since (a late payment, a reservation)
--   backlog  the outbox still holds entries, or entries read but not acknowledged
--   holds    an unpaid hold is open
-- A round whose inventory is already gone (a purge that crashed before it was recorded, or a
-- stream recreated empty by a late relay) has nothing left to change: only the backlog matters.
local gone = redis.call('EXISTS', K.meta) == 0 and redis.call('EXISTS', K.orders) == 0
local last = ''
if redis.call('EXISTS', K.outbox) == 1 then
  local info = redis.call('XINFO', 'STREAM', K.outbox)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
  if redis.call('XLEN', K.outbox) > 0 then return {'backlog', 0} end
  local groups = redis.call('XINFO', 'GROUPS', K.outbox)
  for _, g in ipairs(groups) do
    for i = 1, #g, 2 do
      if g[i] == 'pending' and tonumber(g[i + 1]) > 0 then return {'backlog', 0} end
    end
  end
end
if not gone and last ~= A.last_id then return {'changed', 0} end
if redis.call('ZCARD', K.holds) > 0 then return {'holds', 0} end
if A.check then return {'', 0} end
local deleted = 0
for _, key in ipairs(KEYS) do
  deleted = deleted + redis.call('UNLINK', key)
end
return {'', deleted}
