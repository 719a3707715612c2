-- wrk script of bench/webhook_intake.py: every thread replays its own file of pre-signed Cloud
-- webhooks, one distinct body per request (wrk's LuaJIT has no HMAC, so Python signs them first).
--   wrk ... -s bench/webhook_intake.lua <url> -- <bodies dir> <path>
-- Line format of <bodies dir>/bodies_<thread>.txt: "<X-Hub-Signature-256 value> <JSON body>".
-- Prints one line "BENCH_JSON {...}" with counts and latency percentiles (microseconds).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  signatures, bodies = {}, {}
  for line in io.lines(args[1] .. "/bodies_" .. thread_id .. ".txt") do
    local space = line:find(" ", 1, true)
    signatures[#signatures + 1] = line:sub(1, space - 1)
    bodies[#bodies + 1] = line:sub(space + 1)
  end
  target = args[2]
  sent, ok, refused, reused = 0, 0, 0, 0
end

function request()
  sent = sent + 1
  local i = sent
  if i > #bodies then
    -- Out of distinct bodies: a repeat is a provider retry (answered 200, stored once). Counted,
    -- so the driver knows the "0 lost" check no longer holds one row per 200.
    reused = reused + 1
    i = (i - 1) % #bodies + 1
  end
  return wrk.format("POST", target, {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = signatures[i],
  }, bodies[i])
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  local totals = { sent = 0, ok = 0, refused = 0, reused = 0 }
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + (thread:get(key) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"completed":%d,"sent":%d,"ok":%d,"refused":%d,"reused":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d}}\n',
    summary.duration, summary.requests, totals.sent, totals.ok, totals.refused, totals.reused,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max))
end
