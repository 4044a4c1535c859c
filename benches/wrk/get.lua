-- GET PATH with the bearer token (diagnostic rows of http.sh). Environment: TOKEN PATH_TO_GET.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.path = env("PATH_TO_GET")
wrk.headers["Authorization"] = "Bearer " .. env("TOKEN")
