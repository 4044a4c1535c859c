-- GET /passbroker/v1/pwned/range/{random prefix} with Add-Padding: true (without when
-- NO_PADDING is set) (breach.sh).
-- Environment: BASE_PATH (default /passbroker/v1/pwned/range/).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local base = os.getenv("BASE_PATH") or "/passbroker/v1/pwned/range/"
wrk.method = "GET"
if os.getenv("NO_PADDING") == nil then wrk.headers["Add-Padding"] = "true" end
request = function()
  return wrk.format(nil, base .. string.format("%05X", math.random(0, 1048575)))
end
