#!/usr/bin/env python3
"""Conformance check of ISC's password *administration* APIs: drive the official SailPoint
Python SDK, unmodified, against passbroker (`passbroker serve --demo`) and print PASS/FAIL lines.

Per API version it runs: password org config (get, put, create-when-exists -> 400, out of range
-> 400 and unchanged), password policies (create, get, list with limit/offset/count and
X-Total-Count, update, delete, get -> 404), sources (create 201, get, list with filters and
count, JSON Patch adding PASSWORD, put, invalid patch -> 400 and unchanged, delete 202), password
sync groups (create, get, list with count, update, unknown policy -> 400, delete), the password
dictionary (multipart upload, text download, over 2,500 words -> 400), digit tokens (with the
experimental header where the spec marks it, and a raw call without it -> 400; redeemed through
passbroker's POST /passbroker/v1/digit-token/redeem and followed to FINISHED), custom password
instructions (create, get, delete), and the source password-policy holders (v2024, v2025, v1).

SDK generations:
  * sailpoint 1.x (1.4.2): sailpoint.v3 / .beta / .v2024 / .v2025 classes -> /v3/... /beta/... ...
  * sailpoint 2.x (2.1.72): sailpoint.password_policies, .password_sync_groups, .sources ... -> /.../v1

Usage:
  target/debug/passbroker serve --demo --data-dir DIR --listen 127.0.0.1:PORT &
  SAIL_BASE_URL=http://127.0.0.1:PORT SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... \\
  PASSBROKER_BIN=target/debug/passbroker PASSBROKER_DATA_DIR=DIR \\
  /opt/passbroker-venvs/sdk1/bin/python conformance/admin_sdk_py.py

Environment:
  SAIL_BASE_URL          server base URL, no trailing slash                               [required]
  SAIL_CLIENT_ID         API client id (client_credentials; the demo's, from demo-credentials.json) [required]
  SAIL_CLIENT_SECRET     its secret                                                       [required]
  SAIL_ADMIN_CLIENT_ID   personal access token id of an ORG_ADMIN user, for the operations ISC
  SAIL_ADMIN_CLIENT_SECRET  allows only to users (policy, sync group and dictionary writes, custom
                         instructions). When unset, the script makes one: it creates an ORG_ADMIN
                         identity through POST /passbroker/v1/identities and runs
                         `$PASSBROKER_BIN pats create --user … --json --data-dir $PASSBROKER_DATA_DIR`.
  PASSBROKER_BIN         the passbroker binary (default target/debug/passbroker)
  PASSBROKER_DATA_DIR    the running server's data dir (needed only for that bootstrap)
  CONF_USER_NAME         the demo user (default Abby.Smith); CONF_SOURCE_NAME its source (default My-AD)
  CONF_PASSWORD          password set through a redeemed digit token (default Blue7-Kite-Rum9)
  CONF_API_VERSIONS      comma list: v3,beta,v2024,v2025 (SDK 1.x) and/or v1 (SDK 2.x); default: all
                         the installed SDK offers
  CONF_DEADLINE_S        hard wall-clock limit for the whole script (default 300)
Exit code 0 when every check passed, 1 otherwise. Last line: "N passed, N failed".
"""
import importlib.metadata
import json
import os
import signal
import sys
import time
import uuid
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from admin_sdk_support import (  # noqa: E402
    PASSWORD, SOURCE, USER, Layout, admin_credentials, check, encrypt, expect_error, finish, header, http, make_config,
    path_of, report, short, token)


def run_version(ver, L, app_token):
    m = L.models
    tag = uuid.uuid4().hex[:6]
    # ---- org config ------------------------------------------------------------------------
    Org = m["PasswordOrgConfig"]
    check(ver, "org config: GET", lambda: f"digitTokenLength={L.call('app', 'config', 'get_password_org_config').digit_token_length}")

    def put_config():
        c = L.call("app", "config", "put_password_org_config", Org(digit_token_enabled=True, custom_instructions_enabled=True, digit_token_length=8))
        assert c.digit_token_enabled and c.custom_instructions_enabled and c.digit_token_length == 8, c
        return "digit tokens and custom instructions on, length 8"
    check(ver, "org config: PUT changes the given fields", put_config)
    check(ver, "org config: POST when one exists -> 400", lambda: expect_error(lambda: L.call("app", "config", "create_password_org_config", Org(digit_token_length=7)), 400, "already exists"))

    def out_of_range():
        # The SDK's model refuses 61 itself, so this one goes out as a raw request.
        status, body = http("PUT", path_of(ver, "password-org-config"), app_token, {"digitTokenDurationMinutes": 61})
        assert status == 400 and "digitTokenDurationMinutes" in json.dumps(body), (status, body)
        assert L.call("app", "config", "get_password_org_config").digit_token_duration_minutes != 61
        return "HTTP 400 (digitTokenDurationMinutes), unchanged"
    check(ver, "org config: out of range -> 400, unchanged", out_of_range)

    # ---- password policies -----------------------------------------------------------------
    Policy = m["PasswordPolicyV3Dto"]
    state = {}

    def create_policy():
        p = L.call("admin", "policies", "create_password_policy", Policy(name=f"SDK {ver} {tag}", min_length=10, min_numeric=1))
        assert p.id and p.min_length == 10 and p.date_created is not None, p
        state["policy"] = p
        return f"id={p.id}"
    if not check(ver, "policies: create", create_policy):
        return
    pid = state["policy"].id
    check(ver, "policies: get", lambda: f"name={L.call('app', 'policies', 'get_password_policy_by_id', pid).name}")

    def list_policies():
        r = L.info("app", "policies", "list_password_policies", limit=1, offset=1, count=True)
        total = int(header(r, "X-Total-Count"))
        assert r.status_code == 200 and len(r.data) == 1 and total >= 2, (r.status_code, len(r.data), total)
        return f"limit=1 offset=1 -> 1 item, X-Total-Count={total}"
    check(ver, "policies: list with paging", list_policies)

    def update_policy():
        p = state["policy"]
        p.min_length = 12
        out = L.call("admin", "policies", "set_password_policy", pid, p)
        assert out.min_length == 12, out
        return "minLength 12"
    check(ver, "policies: update", update_policy)
    check(ver, "policies: impossible values -> 400", lambda: expect_error(
        lambda: L.call("admin", "policies", "create_password_policy", Policy(name=f"Bad {tag}", min_length=20, max_length=10)), 400, "maxLength"))

    # ---- sources ---------------------------------------------------------------------------
    Source, Owner, Op, Val = m["Source"], m["SourceOwner"], m["JsonPatchOperation"], m["JsonPatchOperationValue"]
    abby = http("GET", f"/passbroker/v1/identities?filters=name%20eq%20%22{USER}%22", app_token)[1][0]
    made = []

    def create_source(n):
        s = L.call("app", "sources", "create_source", Source(name=f"sdk-{ver}-{tag}-{n}", connector="simulated", features=["AUTHENTICATE"],
                                                               owner=Owner(type="IDENTITY", id=abby["id"], name=USER), connector_attributes={"latencyMs": 1}))
        assert s.id and s.connector == "simulated", s
        made.append(s)
        return f"id={s.id}"
    for n in (1, 2):
        if not check(ver, f"sources: create #{n} (201)", lambda n=n: create_source(n)):
            return
    s1, s2 = made
    check(ver, "sources: get", lambda: f"owner={L.call('app', 'sources', 'get_source', s1.id).owner.name}")

    def list_sources():
        r = L.info("app", "sources", "list_sources", limit=10, count=True, filters=f'name sw "sdk-{ver}-{tag}"')
        assert r.status_code == 200 and len(r.data) == 2 and header(r, "X-Total-Count") == "2", (len(r.data), r.headers)
        return "filters name sw, X-Total-Count=2"
    check(ver, "sources: list with filters and count", list_sources)

    def patch_sources():
        for s in made:
            out = L.call("app", "sources", "update_source", s.id, [Op(op="add", path="/features/-", value=Val("PASSWORD")),
                                                                     Op(op="replace", path="/description", value=Val("patched by the SDK"))])
            assert "PASSWORD" in out.features and out.description == "patched by the SDK", out
        return "features += PASSWORD"
    check(ver, "sources: JSON Patch", patch_sources)

    def bad_patch():
        r = expect_error(lambda: L.call("app", "sources", "update_source", s1.id, [Op(op="remove", path="/nosuch")]), 400, "operation 0 (remove /nosuch)")
        assert L.call("app", "sources", "get_source", s1.id).description == "patched by the SDK"
        return r + ", unchanged"
    check(ver, "sources: invalid patch -> 400", bad_patch)

    def put_source():
        s = L.call("app", "sources", "get_source", s2.id)
        s.description = "put by the SDK"
        assert L.call("app", "sources", "put_source", s2.id, s).description == "put by the SDK"
        return "description replaced"
    check(ver, "sources: put", put_source)

    # ---- sync groups -----------------------------------------------------------------------
    Group = m["PasswordSyncGroup"]

    def create_group():
        g = L.call("admin", "groups", "create_password_sync_group", Group(name=f"SDK {ver} {tag}", password_policy_id=pid, source_ids=[s1.id, s2.id]))
        assert g.id and sorted(g.source_ids) == sorted([s1.id, s2.id]), g
        state["group"] = g
        return f"id={g.id}"
    if check(ver, "sync groups: create", create_group):
        gid = state["group"].id
        check(ver, "sync groups: get", lambda: f"policy={L.call('app', 'groups', 'get_password_sync_group', gid).password_policy_id}")

        def list_groups():
            r = L.info("app", "groups", "get_password_sync_groups", limit=250, count=True)
            assert r.status_code == 200 and int(header(r, "X-Total-Count")) >= 1
            return f"X-Total-Count={header(r, 'X-Total-Count')}"
        check(ver, "sync groups: list with count", list_groups)
        check(ver, "sync groups: update", lambda: L.call("admin", "groups", "update_password_sync_group", gid,
                                                          Group(name=f"SDK {ver} {tag} renamed", password_policy_id=pid, source_ids=[s2.id, s1.id])).name)
        check(ver, "policies: delete while a group uses it -> 400", lambda: expect_error(lambda: L.call("admin", "policies", "delete_password_policy", pid), 400, "sync group"))
        check(ver, "sync groups: delete", lambda: L.call("admin", "groups", "delete_password_sync_group", gid) or "204")
    check(ver, "sync groups: unknown policy id -> 400", lambda: expect_error(
        lambda: L.call("admin", "groups", "create_password_sync_group", Group(name=f"Bad {tag}", password_policy_id="0" * 32, source_ids=[s1.id, s2.id])),
        400, "passwordPolicyId"))

    # ---- source password-policy holders ----------------------------------------------------
    # The SDKs' PasswordPolicyHoldersDtoInner model cannot be built (it names an undefined
    # class), so these go out as raw requests on the paths the SDKs use.
    if ver in ("v2024", "v2025", "v1"):
        def holders():
            path = f"/sources/v1/{s1.id}/password-policies" if ver == "v1" else f"/{ver}/sources/{s1.id}/password-policies"
            status, body = http("PATCH", path, app_token, [{"policyId": pid, "policyName": "", "selectors": {"identityAttr": []}}])
            assert status == 200 and body[0]["policyId"] == pid, (status, body)
            return f"policy {pid} on source {s1.id}"
        check(ver, "sources: update password policy holders", holders)

    # ---- dictionary ------------------------------------------------------------------------
    def dictionary():
        text = f"# SDK {ver}\nlocale=en_US\nqwerty\nsunshine{tag}\n"
        L.call("admin", "dictionary", "put_password_dictionary", file=("dictionary.txt", text.encode()))
        got = L.call("admin", "dictionary", "get_password_dictionary")
        assert got == text, repr(got)
        return "uploaded and read back"
    check(ver, "dictionary: PUT multipart, GET text", dictionary)
    big = "".join(f"w{n}\n" for n in range(2501)).encode()
    check(ver, "dictionary: over 2,500 words -> 400", lambda: expect_error(
        lambda: L.call("admin", "dictionary", "put_password_dictionary", file=("big.txt", big)), 400, "2501 words"))

    # ---- digit tokens and custom instructions (not in /v3) -----------------------------------
    if ver != "v3":
        Reset = m["PasswordDigitTokenReset"]
        # Where the spec marks these operations experimental, send the header explicitly (SDK
        # 2.x leaves it out unless asked; SDK 1.x sends it by default).
        exp = {"x_sail_point_experimental": "true"} if ver != "beta" else {}

        def digit_token():
            t = L.call("app", "management", "create_digit_token", Reset(user_id=USER, length=8, duration_minutes=5), **exp)
            assert t.digit_token and len(str(t.digit_token)) == 8 and t.request_id, t
            state["token"] = str(t.digit_token)
            return "8 digits"
        check(ver, "digit token: create" + (" (X-SailPoint-Experimental)" if ver != "beta" else ""), digit_token)
        if ver != "beta":
            def no_header():
                status, body = http("POST", path_of(ver, "generate-password-reset-token", "/digit"), app_token, {"userId": USER})
                assert status == 400 and "X-SailPoint-Experimental" in json.dumps(body), (status, body)
                return "HTTP 400 (X-SailPoint-Experimental)"
            check(ver, "digit token: without X-SailPoint-Experimental -> 400", no_header)
        if "token" in state:
            def redeem():
                _, info = http("POST", "/v3/query-password-info", app_token, {"userName": USER, "sourceName": SOURCE})
                status, body = http("POST", "/passbroker/v1/digit-token/redeem", None, {
                    "userName": USER, "digitToken": state["token"], "sourceName": SOURCE,
                    "encryptedPassword": encrypt(info["publicKey"], PASSWORD), "publicKeyId": info["publicKeyId"]})
                assert status == 202, (status, body)
                deadline = time.monotonic() + 30
                while True:
                    st = L.call("app", "management", L.status_method, body["requestId"])
                    if st.state != "IN_PROGRESS" or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert st.state == "FINISHED", st
                again = http("POST", "/passbroker/v1/digit-token/redeem", None, {
                    "userName": USER, "digitToken": state["token"], "sourceName": SOURCE,
                    "encryptedPassword": encrypt(info["publicKey"], PASSWORD), "publicKeyId": info["publicKeyId"]})
                assert again[0] == 400, again
                return "202, FINISHED, then single-use (400)"
            check(ver, "digit token: redeem into a password change", redeem)
        if "custom" in L.admin:
            Ins = m["CustomPasswordInstruction"]
            page = "reset-password:enter-password"

            def custom():
                made = L.call("admin", "custom", "create_custom_password_instructions", Ins(page_id=page, page_content=f"See the policy ({ver})"), **exp)
                assert made.page_id == page, made
                got = L.call("admin", "custom", "get_custom_password_instructions", page, **exp)
                assert got.page_content == f"See the policy ({ver})", got
                L.call("admin", "custom", "delete_custom_password_instructions", page, **exp)
                return "create, get, delete"
            check(ver, "custom password instructions", custom)

    # ---- clean up ----------------------------------------------------------------------------
    def delete_sources():
        for s in made:
            if hasattr(L.app["sources"], "delete_source" + L.suffix):
                r = L.info("app", "sources", "delete_source", s.id)
                assert r.status_code == 202 and r.data.type == "TASK_RESULT", r
            else:  # the beta SDK has no delete
                status, body = http("DELETE", f"/{ver}/sources/{s.id}", app_token)
                assert status == 202 and body["type"] == "TASK_RESULT", (status, body)
        return "202 TASK_RESULT"
    check(ver, "sources: delete", delete_sources)
    check(ver, "policies: delete", lambda: L.call("admin", "policies", "delete_password_policy", pid) or "204")
    check(ver, "policies: get after delete -> 404", lambda: expect_error(lambda: L.call("app", "policies", "get_password_policy_by_id", pid), 404))


def main():
    warnings.simplefilter("ignore", UserWarning)  # the SDK's enum warnings on valid RFC 6902 ops
    deadline = int(os.environ.get("CONF_DEADLINE_S", "300"))
    signal.signal(signal.SIGALRM, lambda *_: (report(False, "setup", f"deadline of {deadline}s reached"), finish()))
    signal.alarm(deadline)
    for name in ("SAIL_BASE_URL", "SAIL_CLIENT_ID", "SAIL_CLIENT_SECRET"):
        if not os.environ.get(name):
            report(False, "setup", f"environment variable {name} is required")
            finish()
    sdk = importlib.metadata.version("sailpoint")
    offered = ["v1"] if sdk.startswith("2.") else ["v3", "beta", "v2024", "v2025"]
    wanted = [v for v in os.environ.get("CONF_API_VERSIONS", ",".join(offered)).split(",") if v]
    try:
        app_token = token(os.environ["SAIL_CLIENT_ID"], os.environ["SAIL_CLIENT_SECRET"])
        admin_id, admin_secret = admin_credentials(app_token)
        app_cfg = make_config(os.environ["SAIL_CLIENT_ID"], os.environ["SAIL_CLIENT_SECRET"])
        admin_cfg = make_config(admin_id, admin_secret)
    except Exception as e:  # noqa: BLE001
        report(False, "setup", "tokens", short(e))
        finish()
    print(f"sailpoint {sdk}: versions {', '.join(wanted)}", flush=True)
    for ver in wanted:
        if ver not in offered:
            report(False, ver, f"sailpoint {sdk} has no {ver} classes")
            continue
        try:
            run_version(ver, Layout(ver, app_cfg, admin_cfg), app_token)
        except Exception as e:  # noqa: BLE001
            report(False, ver, "unexpected error", short(e))
    finish()


if __name__ == "__main__":
    main()
