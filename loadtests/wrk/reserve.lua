-- wrk script: POST reservations, each from a distinct pre-minted buyer (token + ID number).
-- wrk -t T -s reserve.lua URL -- <buyers.tsv> <round_id> <run_nonce> <agreement_version> <T>
--                                  [<pace_ms>: only used by reserve_paced.lua]
local created = 0
local lines = {}

function setup(thread)
  thread:set("tid", created)
  created = created + 1
end

function init(args)
  for line in io.lines(args[1]) do
    local token, idn = line:match("^([^\t]+)\t([^\t]+)$")
    lines[#lines + 1] = { token, idn }
  end
  nonce, agreement, step = args[3], args[4], tonumber(args[5])
  path = "/api/rounds/" .. args[2] .. "/orders"
  counter = tid
  pace = tonumber(args[6] or "0")
end

function request()
  local buyer = lines[(counter % #lines) + 1]
  counter = counter + step
  local body = '{"quantity":1,"real_name":"Zhang Wei","id_number":"' .. buyer[2] ..
    '","address":"Beijing Chaoyang Jianguo Road 88","agreement_version":"' .. agreement ..
    '","channel":"web"}'
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. buyer[1],
    ["Idempotency-Key"] = "bench-" .. nonce .. "-" .. counter,
    ["Content-Type"] = "application/json",
  }, body)
end
