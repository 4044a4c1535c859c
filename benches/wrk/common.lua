-- Shared by the wrk scripts: per-thread ids, and a machine-readable summary line.
-- Loaded with dofile() from the scripts beside it (BENCH_LUA_DIR).

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end

function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then error("missing environment variable " .. name) end
  return v
end
