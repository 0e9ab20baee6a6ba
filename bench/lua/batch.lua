-- POST /v1/ingest/batch: a JSON array of distinct readings per request (size from the first
-- script argument), half meters and half vehicles.
local counter = 0
local size = 1000

function init(args)
  size = tonumber(args[1]) or size
end

request = function()
  local items = {}
  for i = 1, size do
    counter = counter + 1
    items[i] = (counter % 2 == 0) and meter(counter) or vehicle(counter)
  end
  local body = "[" .. table.concat(items, ",") .. "]"
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
