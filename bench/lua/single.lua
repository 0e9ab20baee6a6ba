-- POST /v1/ingest: one distinct reading per request, meters and vehicles in turn.
local counter = 0

request = function()
  counter = counter + 1
  local body = (counter % 2 == 0) and meter(counter) or vehicle(counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
