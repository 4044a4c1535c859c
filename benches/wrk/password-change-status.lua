-- GET /v3/password-change-status/{REQUEST_ID}. Environment: TOKEN REQUEST_ID.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.path = "/v3/password-change-status/" .. env("REQUEST_ID")
wrk.headers["Authorization"] = "Bearer " .. env("TOKEN")
