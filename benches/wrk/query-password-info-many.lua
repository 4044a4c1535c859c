-- POST /v3/query-password-info for identities drawn at random from a file of login names
-- (one a line). Environment: TOKEN USER_NAMES; optional SOURCE_NAME (default My-AD).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local names, headers, source

function init(args)
  names = {}
  for line in io.lines(env("USER_NAMES")) do
    if #line > 0 then table.insert(names, line) end
  end
  math.randomseed(os.time() + (tonumber(wrk.thread:get("thread_id")) or 1) * 1000)
  headers = { ["Authorization"] = "Bearer " .. env("TOKEN"), ["Content-Type"] = "application/json" }
  source = os.getenv("SOURCE_NAME") or "My-AD"
end

function request()
  local name = names[math.random(#names)]
  return wrk.format("POST", "/v3/query-password-info", headers,
    string.format('{"userName":"%s","sourceName":"%s"}', name, source))
end
