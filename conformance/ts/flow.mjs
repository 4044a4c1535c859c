#!/usr/bin/env node
// Conformance check: drive the official SailPoint TypeScript SDK (npm `sailpoint-api-client`),
// unmodified, against a passbroker (or ISC) server and print PASS/FAIL lines.
//
// Flow per API version (v3, beta, v2024):
//   SDK token fetch (multipart/form-data POST to tokenUrl) -> query-password-info
//   -> RSA PKCS#1 v1.5 encryption of the password with the returned publicKey (node crypto)
//   -> set-password (expects 202 {requestId, state}) -> poll password-change-status until
//   FINISHED/FAILED -> unknown request id (expects 404)
// plus optional negative/edge checks (wrong client secret, bogus bearer token -> 401,
// base URL with a trailing slash).
//
// Environment (same names as ../sailpoint_sdk_py.py where they overlap):
//   SAIL_BASE_URL, SAIL_CLIENT_ID, SAIL_CLIENT_SECRET            [required]
//   CONF_PASSWORD                                                  [required]
//   CONF_USER_NAME (Abby.Smith), CONF_SOURCE_NAME (My-AD)
//   CONF_API_VERSIONS   comma list of v3,beta,v2024 (default: all three)
//   CONF_EXPECT_STATE   FINISHED (default) or FAILED
//   CONF_POLL_TIMEOUT_S (30, capped at 30), CONF_POLL_INTERVAL_S (1)
//   CONF_REQUEST_TIMEOUT_S (10), CONF_NEGATIVE (1), CONF_DEADLINE_S (120)
//   CONF_TS_MODULES_DIR directory whose node_modules holds sailpoint-api-client
//                       (default: this script's directory)
// Last line: "N passed, N failed"; exit code 0 only when nothing failed.
import crypto from "node:crypto";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const RESULTS = { PASS: 0, FAIL: 0, SKIP: 0 };

function report(kind, scope, check, detail = "") {
  RESULTS[kind] += 1;
  console.log(`${kind} [${scope}] ${check}${detail ? ": " + detail : ""}`);
}

function finish() {
  let line = `${RESULTS.PASS} passed, ${RESULTS.FAIL} failed`;
  if (RESULTS.SKIP) line += `, ${RESULTS.SKIP} skipped`;
  console.log(line);
  process.exit(RESULTS.FAIL === 0 && RESULTS.PASS > 0 ? 0 : 1);
}

function env(name, dflt, required = false) {
  const v = process.env[name] ?? dflt;
  if (required && !v) {
    console.log(`FAIL [setup] environment variable ${name} is required`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
  return v;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function errText(e) {
  if (e && e.response) {
    const body = typeof e.response.data === "string" ? e.response.data : JSON.stringify(e.response.data);
    return `HTTP ${e.response.status} ${String(body).slice(0, 300)}`;
  }
  return `${e && e.name ? e.name : "Error"}: ${String(e && e.message ? e.message : e).split(/\s+/).join(" ").slice(0, 300)}`;
}

function statusOf(e) {
  return e && e.response ? e.response.status : undefined;
}

// publicKey is documented as base64 of DER SubjectPublicKeyInfo; accept PEM too.
function encryptPassword(publicKeyText, plaintext) {
  const text = (publicKeyText || "").trim();
  const key = text.includes("-----BEGIN")
    ? crypto.createPublicKey(text)
    : crypto.createPublicKey({ key: Buffer.from(text, "base64"), format: "der", type: "spki" });
  if (key.asymmetricKeyType !== "rsa") throw new Error(`publicKey is not an RSA key (${key.asymmetricKeyType})`);
  const ct = crypto.publicEncrypt(
    { key, padding: crypto.constants.RSA_PKCS1_PADDING },
    Buffer.from(plaintext, "utf8"),
  );
  return [ct.toString("base64"), `${text.includes("-----BEGIN") ? "PEM" : "DER SubjectPublicKeyInfo"}, ${key.asymmetricKeyDetails.modulusLength}-bit`];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const modulesDir = env("CONF_TS_MODULES_DIR", here);
const require = createRequire(path.join(path.resolve(modulesDir), "noop.js"));

let sdk, sdkVersion;
try {
  sdk = require("sailpoint-api-client");
  sdkVersion = require("sailpoint-api-client/package.json").version;
} catch (e) {
  report("FAIL", "setup", "load sailpoint-api-client", `${errText(e)} (CONF_TS_MODULES_DIR=${modulesDir})`);
  finish();
}

// Per version: API class, request-parameter keys, method names.
const LAYOUTS = {
  v3: { Api: sdk.PasswordManagementApi, qKey: "passwordInfoQueryDTO", sKey: "passwordChangeRequest",
        q: "queryPasswordInfo", s: "setPassword", g: "getPasswordChangeStatus" },
  beta: { Api: sdk.PasswordManagementBetaApi, qKey: "passwordInfoQueryDTOBeta", sKey: "passwordChangeRequestBeta",
          q: "queryPasswordInfo", s: "setIdentityPassword", g: "getIdentityPasswordChangeStatus" },
  v2024: { Api: sdk.PasswordManagementV2024Api, qKey: "passwordInfoQueryDTOV2024", sKey: "passwordChangeRequestV2024",
           q: "queryPasswordInfo", s: "setPassword", g: "getPasswordChangeStatus" },
};
const STATES = ["IN_PROGRESS", "FINISHED", "FAILED"];

function makeConfig(base, clientId, clientSecret, accessToken) {
  const params = { baseurl: base, clientId, clientSecret, tokenUrl: base + "/oauth/token" };
  if (accessToken) params.accessToken = accessToken;
  const cfg = new sdk.Configuration(params);
  // The SDK starts the token fetch in the constructor and keeps the promise; attach a handler
  // right away so that a rejected fetch is not an unhandled rejection.
  const token = Promise.resolve(cfg.accessToken).then((t) => ({ ok: true, t }), (e) => ({ ok: false, e }));
  return { cfg, token };
}

function jsonCt(cfg, res) {
  const ct = res.headers && res.headers["content-type"];
  return ct && cfg.isJsonMime(String(ct)) ? null : `content-type ${ct === undefined ? "missing" : JSON.stringify(ct)} is not JSON`;
}

async function runFlow(scope, layout, cfg, o) {
  const api = new layout.Api(cfg);
  const t = { timeout: o.rto };

  // 1. query-password-info
  let info;
  try {
    const r = await api[layout.q]({ [layout.qKey]: { userName: o.user, sourceName: o.source } }, t);
    info = r.data;
    const missing = ["identityId", "publicKeyId", "publicKey"].filter((f) => !info || !info[f]);
    const bad = jsonCt(cfg, r);
    if (r.status !== 200 || missing.length || bad) {
      report("FAIL", scope, "query-password-info", `HTTP ${r.status}, missing/empty fields [${missing}]${bad ? ", " + bad : ""}`);
      return;
    }
    report("PASS", scope, "query-password-info",
      `HTTP 200 identityId=${info.identityId} sourceId=${info.sourceId} accounts=${(info.accounts || []).length} policies=${(info.policies || []).length}`);
  } catch (e) {
    report("FAIL", scope, "query-password-info", errText(e));
    return;
  }

  // 2. encrypt
  let enc;
  try {
    const [ct, desc] = encryptPassword(info.publicKey, o.password);
    enc = ct;
    report("PASS", scope, "encrypt with publicKey (node crypto.publicEncrypt, RSA_PKCS1_PADDING, base64)", desc);
  } catch (e) {
    report("FAIL", scope, "encrypt with publicKey", errText(e));
    return;
  }

  // 3. set-password
  const accountId = info.accounts && info.accounts.length ? info.accounts[0].accountId : undefined;
  let requestId;
  try {
    const r = await api[layout.s]({
      [layout.sKey]: { identityId: info.identityId, encryptedPassword: enc, publicKeyId: info.publicKeyId,
                       accountId, sourceId: info.sourceId },
    }, t);
    const d = r.data || {};
    const bad = jsonCt(cfg, r);
    if (r.status !== 202 || !d.requestId || typeof d.requestId !== "string" || !STATES.includes(d.state) || bad) {
      report("FAIL", scope, "set-password", `HTTP ${r.status} (expected 202 with string requestId and a documented state), data=${JSON.stringify(r.data)}${bad ? ", " + bad : ""}`);
      return;
    }
    requestId = d.requestId;
    report("PASS", scope, "set-password", `HTTP 202 requestId=${d.requestId} state=${d.state}`);
  } catch (e) {
    report("FAIL", scope, "set-password", errText(e));
    return;
  }

  // 4. poll status
  const deadline = Date.now() + o.pollTimeout * 1000;
  let polls = 0, last = null, lastCtErr = null;
  for (;;) {
    try {
      const r = await api[layout.g]({ id: requestId }, t);
      polls += 1;
      last = r.data;
      lastCtErr = r.status !== 200 ? `HTTP ${r.status} (expected 200)` : jsonCt(cfg, r);
    } catch (e) {
      report("FAIL", scope, "password-change-status", errText(e));
      return;
    }
    if (lastCtErr) break;
    if (last && last.state !== "IN_PROGRESS") break;
    if (Date.now() + o.pollInterval * 1000 > deadline) break;
    await sleep(o.pollInterval * 1000);
  }
  if (lastCtErr) {
    report("FAIL", scope, "password-change-status", lastCtErr);
  } else if (last && !STATES.includes(last.state)) {
    report("FAIL", scope, "password-change-status", `undocumented state ${JSON.stringify(last.state)} (enum: ${STATES.join(", ")})`);
  } else if (!last || (last.state !== "FINISHED" && last.state !== "FAILED")) {
    report("FAIL", scope, "password-change-status", `no terminal state within ${o.pollTimeout}s after ${polls} polls, last=${JSON.stringify(last)}`);
  } else if (last.state !== o.expectState) {
    report("FAIL", scope, "password-change-status", `state ${last.state} (expected ${o.expectState}) errors=${JSON.stringify(last.errors)}`);
  } else if (last.requestId !== requestId) {
    report("FAIL", scope, "password-change-status", `requestId ${JSON.stringify(last.requestId)} does not echo ${requestId}`);
  } else if (o.expectState === "FAILED" && !(last.errors && last.errors.length)) {
    report("FAIL", scope, "password-change-status", "FAILED with empty errors[]");
  } else {
    report("PASS", scope, "password-change-status",
      `${last.state} after ${polls} polls, errors=${JSON.stringify(last.errors)}, sourceIds=${JSON.stringify(last.sourceIds)}`);
  }

  // 5. unknown request id -> 404
  try {
    const r = await api[layout.g]({ id: crypto.randomUUID().replace(/-/g, "") }, t);
    report("FAIL", scope, "password-change-status unknown id", `expected HTTP 404, got ${r.status}`);
  } catch (e) {
    const st = statusOf(e);
    report(st === 404 ? "PASS" : "FAIL", scope, "password-change-status unknown id", st === 404 ? "HTTP 404" : errText(e));
  }
}

async function main() {
  const deadlineS = Number(env("CONF_DEADLINE_S", "120"));
  setTimeout(() => {
    console.log("FAIL [setup] hard deadline reached");
    console.log(`${RESULTS.PASS} passed, ${RESULTS.FAIL + 1} failed`);
    process.exit(1);
  }, deadlineS * 1000).unref();

  const base = env("SAIL_BASE_URL", undefined, true).replace(/\/+$/, "");
  const cid = env("SAIL_CLIENT_ID", undefined, true);
  const csec = env("SAIL_CLIENT_SECRET", undefined, true);
  const o = {
    password: env("CONF_PASSWORD", undefined, true),
    user: env("CONF_USER_NAME", "Abby.Smith"),
    source: env("CONF_SOURCE_NAME", "My-AD"),
    expectState: env("CONF_EXPECT_STATE", "FINISHED").toUpperCase(),
    pollTimeout: Math.min(Number(env("CONF_POLL_TIMEOUT_S", "30")), 30),
    pollInterval: Math.max(Number(env("CONF_POLL_INTERVAL_S", "1")), 0.05),
    rto: Number(env("CONF_REQUEST_TIMEOUT_S", "10")) * 1000,
  };
  const negative = env("CONF_NEGATIVE", "1") !== "0";
  const wanted = env("CONF_API_VERSIONS", Object.keys(LAYOUTS).join(",")).split(",").map((s) => s.trim()).filter(Boolean);
  console.log(`INFO sailpoint-api-client (typescript) ${sdkVersion} on node ${process.version}; testing: ${wanted.join(",")}; expect ${o.expectState}`);

  // token: the SDK's own fetch (multipart/form-data POST to tokenUrl, started in the constructor)
  const t0 = Date.now();
  const { cfg, token } = makeConfig(base, cid, csec);
  const tok = await token;
  if (tok.ok && typeof tok.t === "string" && tok.t) {
    report("PASS", "token", "client_credentials token (SDK, multipart/form-data)",
      `POST ${cfg.tokenUrl} -> access_token (${tok.t.length} chars) in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
  } else {
    report("FAIL", "token", "client_credentials token (SDK, multipart/form-data)",
      tok.ok ? `access_token is ${JSON.stringify(tok.t)}` : errText(tok.e));
    finish();
  }

  for (const ver of wanted) {
    const scope = `ts ${sdkVersion} ${ver}`;
    if (!LAYOUTS[ver] || !LAYOUTS[ver].Api) {
      report("SKIP", scope, "flow", "this API version is not in the installed SDK");
      continue;
    }
    await runFlow(scope, LAYOUTS[ver], cfg, o);
  }

  if (negative) {
    // wrong secret: the SDK's token promise must reject (any non-200 makes it reject)
    const bad = makeConfig(base, cid, csec + "-wrong");
    const origErr = console.error;
    console.error = () => {};            // the SDK logs "Unable to fetch access token.  Aborting."
    const badTok = await bad.token;
    console.error = origErr;
    report(!badTok.ok ? "PASS" : "FAIL", "negative", "token with wrong client_secret",
      !badTok.ok ? errText(badTok.e) : "server issued a token");

    const ver = wanted.find((v) => LAYOUTS[v]) || "v3";
    const L = LAYOUTS[ver];
    // bogus bearer token -> 401
    const bogus = makeConfig(base, cid, csec, "not-a-valid-token");
    try {
      const r = await new L.Api(bogus.cfg)[L.g]({ id: crypto.randomUUID().replace(/-/g, "") }, { timeout: o.rto });
      report("FAIL", "negative", `bogus bearer token (${ver})`, `expected HTTP 401, got ${r.status}`);
    } catch (e) {
      const st = statusOf(e);
      report(st === 401 ? "PASS" : "FAIL", "negative", `bogus bearer token (${ver})`, st === 401 ? "HTTP 401" : errText(e));
    }

    // base URL with a trailing slash: the SDK then requests //oauth/token and //v3/... (product.md §2)
    const slash = makeConfig(base + "/", cid, csec);
    const sTok = await slash.token;
    if (!sTok.ok || !sTok.t) {
      report("FAIL", "edge", "trailing-slash base URL: token", `POST ${slash.cfg.tokenUrl}: ${sTok.ok ? "no access_token" : errText(sTok.e)}`);
    } else {
      try {
        const r = await new L.Api(slash.cfg)[L.q]({ [L.qKey]: { userName: o.user, sourceName: o.source } }, { timeout: o.rto });
        report(r.status === 200 && r.data && r.data.publicKeyId ? "PASS" : "FAIL", "edge",
          `trailing-slash base URL (//oauth/token, //${ver}/query-password-info)`, `HTTP ${r.status}`);
      } catch (e) {
        report("FAIL", "edge", `trailing-slash base URL (//${ver}/query-password-info)`, errText(e));
      }
    }
  }
  finish();
}

main().catch((e) => {
  report("FAIL", "setup", "unexpected error", errText(e));
  finish();
});
