-- GET /passbroker/v1/pwned/range/{random prefix} with Add-Padding: true (breach.sh).
-- Environment: BASE_PATH (default /passbroker/v1/pwned/range/).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local base = os.getenv("BASE_PATH") or "/passbroker/v1/pwned/range/"
wrk.method = "GET"
wrk.headers["Add-Padding"] = "true"
request = function()
  return wrk.format(nil, base .. string.format("%05X", math.random(0, 1048575)))
end
