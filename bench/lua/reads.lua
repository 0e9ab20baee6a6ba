-- GET a path for a random site of the load generator's fleet: the first script argument is a
-- format with one %05d for the site number (a path without one is fetched as it is), the
-- second the number of sites.
local path = "/v1/status/vehicle/vehicle-%05d"
local sites = 10000

function init(args)
  path = args[1] or path
  sites = tonumber(args[2]) or sites
  math.randomseed(os.time() + thread_no)
end

request = function()
  return wrk.format("GET", string.format(path, math.random(0, sites - 1)))
end
