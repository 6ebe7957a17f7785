-- reserve.lua at a paced rate: each connection waits <pace_ms> before its next request, so
-- C connections offer about C * 1000 / (pace_ms + latency) requests per second.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "reserve.lua")

function delay()
  return pace
end
