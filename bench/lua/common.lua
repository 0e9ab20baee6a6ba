-- Shared by every script of the benchmark: a thread number for each wrk thread (so that
-- threads write distinct devices), and a summary as one JSON line that ingest-bench reads.
local threads = 0

function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end

-- A timestamp of the current second whose microseconds come from a per-thread counter: no two
-- readings of a thread within a second share one, so every reading inserts a row.
function stamp(n)
  return os.date("!%Y-%m-%dT%H:%M:%S", os.time()) .. string.format(".%06dZ", n % 1000000)
end

function meter(n)
  return string.format(
    '{"meterId":"bench-m-%d-%d","kwhConsumedAc":%.3f,"voltage":%.1f,"timestamp":"%s"}',
    thread_no, n % 5000, 0.1 + (n % 100) / 100, 225 + (n % 10), stamp(n))
end

function vehicle(n)
  return string.format(
    '{"vehicleId":"bench-v-%d-%d","soc":%.1f,"kwhDeliveredDc":%.3f,"batteryTemp":%.1f,"timestamp":"%s"}',
    thread_no, n % 5000, n % 100, 0.09 + (n % 90) / 100, 20 + (n % 20), stamp(n))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
