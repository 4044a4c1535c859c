-- POST /v3/set-password with a real RSA PKCS#1 v1.5 ciphertext (cycled from a pool file, one
-- base64 line each) and a unique Idempotency-Key per request, so that every request is a NEW
-- request (not deduplicated). Environment: TOKEN IDENTITY_ID SOURCE_ID ACCOUNT_ID
-- PUBLIC_KEY_ID CIPHERTEXTS RUN_ID; optional MAX_REQUESTS (per thread: the thread stops after
-- that many responses) and PREFER (e.g. "wait=10").
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local pool, n, sent, received, max_requests, headers, prefix

function init(args)
  pool = {}
  for line in io.lines(env("CIPHERTEXTS")) do
    if #line > 0 then table.insert(pool, line) end
  end
  if #pool == 0 then error("empty ciphertext pool") end
  local id = wrk.thread:get("thread_id") or 1
  n = (tonumber(id) * 7919) % #pool -- threads start at different places in the pool
  sent, received = 0, 0
  max_requests = tonumber(os.getenv("MAX_REQUESTS") or "")
  prefix = env("RUN_ID") .. "-" .. tostring(id) .. "-"
  headers = {
    ["Authorization"] = "Bearer " .. env("TOKEN"),
    ["Content-Type"] = "application/json",
  }
  local prefer = os.getenv("PREFER")
  if prefer and #prefer > 0 then headers["Prefer"] = prefer end
  body_head = string.format('{"identityId":"%s","publicKeyId":"%s","accountId":"%s","sourceId":"%s","encryptedPassword":"',
    env("IDENTITY_ID"), env("PUBLIC_KEY_ID"), env("ACCOUNT_ID"), env("SOURCE_ID"))
end

function request()
  sent = sent + 1
  n = n % #pool + 1
  headers["Idempotency-Key"] = prefix .. sent
  return wrk.format("POST", "/v3/set-password", headers, body_head .. pool[n] .. '"}')
end

if os.getenv("MAX_REQUESTS") and os.getenv("MAX_REQUESTS") ~= "" then
  function response(status, hdrs, body)
    received = received + 1
    if received >= max_requests then wrk.thread:stop() end
  end
end
