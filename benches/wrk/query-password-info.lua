-- POST /v3/query-password-info for the demo identity. Environment: TOKEN.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.path = "/v3/query-password-info"
wrk.headers["Authorization"] = "Bearer " .. env("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"userName":"%s","sourceName":"%s"}', os.getenv("USER_NAME") or "Abby.Smith", os.getenv("SOURCE_NAME") or "My-AD")
