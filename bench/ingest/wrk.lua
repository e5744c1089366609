-- wrk script for bench/ingest/http.py.
--   wrk ... -s wrk.lua URL -- <max responses per thread> [<POST body file> <content type>]
-- Each thread stops by itself after its share of responses (wrk's -d bounds the time); with a
-- body file the requests are POSTs of that body. done() prints one machine-readable line.

local limit = 0
local count = 0

function init(args)
   limit = tonumber(args[1]) or 0
   if args[2] then
      local f = assert(io.open(args[2], "rb"))
      wrk.method = "POST"
      wrk.body = f:read("*a")
      f:close()
      wrk.headers["Content-Type"] = args[3] or "application/json"
   end
end

function response(status, headers, body)
   count = count + 1
   if limit > 0 and count >= limit then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9)))
end
