"""Helpers of conformance/admin_sdk_py.py: result lines, raw HTTP, tokens, the SDK's
classes per API version. Not a script of its own."""
import base64
import importlib
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from contextlib import redirect_stdout

RESULTS = {"PASS": 0, "FAIL": 0}
BASE = os.environ.get("SAIL_BASE_URL", "").rstrip("/")
USER = os.environ.get("CONF_USER_NAME", "Abby.Smith")
SOURCE = os.environ.get("CONF_SOURCE_NAME", "My-AD")
PASSWORD = os.environ.get("CONF_PASSWORD", "Blue7-Kite-Rum9")


def report(ok, scope, check, detail=""):
    RESULTS["PASS" if ok else "FAIL"] += 1
    print(f"{'PASS' if ok else 'FAIL'} [{scope}] {check}" + (f": {detail}" if detail else ""), flush=True)


def finish():
    print(f"{RESULTS['PASS']} passed, {RESULTS['FAIL']} failed", flush=True)
    sys.exit(0 if RESULTS["FAIL"] == 0 else 1)


def short(e):
    body = getattr(e, "body", None)
    return f"{type(e).__name__}: {getattr(e, 'status', '')} " + " ".join(str(body if body else e).split())[:300]


def check(scope, name, fn):
    """Runs one check; `fn` returns a detail string or raises (AssertionError or SDK error)."""
    try:
        report(True, scope, name, fn() or "")
        return True
    except Exception as e:  # noqa: BLE001
        report(False, scope, name, short(e))
        return False


def expect_error(fn, status, needle=""):
    """Calls fn, which must fail with an SDK ApiException of `status` whose body has `needle`."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        got = getattr(e, "status", None)
        body = str(getattr(e, "body", "") or "")
        assert got == status, f"expected HTTP {status}, got {got}: {body[:200]}"
        assert needle in body, f"the error body does not mention {needle!r}: {body[:300]}"
        return f"HTTP {status} ({needle})" if needle else f"HTTP {status}"
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


def header(response, name):
    """A response header, whatever the case of its name."""
    return next((v for k, v in (response.headers or {}).items() if k.lower() == name.lower()), None)


def http(method, path, token=None, body=None, headers=None):
    """A raw HTTP call (for what the SDK cannot express); returns (status, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


def token(client_id, secret):
    form = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}".encode()
    req = urllib.request.Request(BASE + "/oauth/token", data=form, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=15) as r:
        return json.loads(r.read())["access_token"]


def make_config(client_id, secret):
    from sailpoint.configuration import Configuration, ConfigurationParams
    p = ConfigurationParams()
    p.base_url, p.client_id, p.client_secret = BASE, client_id, secret
    with redirect_stdout(io.StringIO()):
        cfg = Configuration(p)
    cfg.experimental = True
    cfg.suppress_experimental_warnings = True
    return cfg


def admin_credentials(app_token):
    cid, sec = os.environ.get("SAIL_ADMIN_CLIENT_ID"), os.environ.get("SAIL_ADMIN_CLIENT_SECRET")
    if cid and sec:
        return cid, sec
    data_dir = os.environ.get("PASSBROKER_DATA_DIR")
    binary = os.environ.get("PASSBROKER_BIN", "target/debug/passbroker")
    if not data_dir:
        raise RuntimeError("set SAIL_ADMIN_CLIENT_ID/SECRET (an ORG_ADMIN's PAT) or PASSBROKER_DATA_DIR for the bootstrap")
    name = f"sdk.admin.{uuid.uuid4().hex[:8]}"
    status, body = http("POST", "/passbroker/v1/identities", app_token, {"name": name, "userLevel": "ORG_ADMIN"})
    if status != 201:
        raise RuntimeError(f"creating the ORG_ADMIN identity: HTTP {status} {body}")
    out = subprocess.run([binary, "pats", "create", "--user", name, "--name", "sdk conformance", "--json", "--data-dir", data_dir],
                         capture_output=True, text=True, timeout=60, check=True)
    pat = json.loads(out.stdout.strip().splitlines()[-1])
    return pat["clientId"], pat["clientSecret"]


class Layout:
    """The SDK classes and method names of one API version."""

    def __init__(self, ver, app_cfg, admin_cfg):
        self.ver = ver
        if ver == "v1":
            from sailpoint.api_client import ApiClient
            mods = {m: importlib.import_module(f"sailpoint.{m}") for m in (
                "password_policies", "password_sync_groups", "password_dictionary", "password_configuration",
                "password_management", "custom_password_instructions", "sources")}
            self.suffix = "_v1"
            self.models = {n: getattr(importlib.import_module(f"sailpoint.{m}.models"), n) for m, n in (
                ("password_policies", "PasswordPolicyV3Dto"), ("password_sync_groups", "PasswordSyncGroup"),
                ("password_configuration", "PasswordOrgConfig"), ("password_management", "PasswordDigitTokenReset"),
                ("custom_password_instructions", "CustomPasswordInstruction"), ("sources", "Source"),
                ("sources", "SourceOwner"), ("sources", "JsonPatchOperation"), ("sources", "JsonPatchOperationValue"),
                ("sources", "PasswordPolicyHoldersDtoInner"))}
            apis = {"policies": mods["password_policies"].PasswordPoliciesApi, "groups": mods["password_sync_groups"].PasswordSyncGroupsApi,
                    "dictionary": mods["password_dictionary"].PasswordDictionaryApi, "config": mods["password_configuration"].PasswordConfigurationApi,
                    "management": mods["password_management"].PasswordManagementApi, "sources": mods["sources"].SourcesApi,
                    "custom": mods["custom_password_instructions"].CustomPasswordInstructionsApi}
            self.status_method = "get_password_change_status"
        else:
            mod = importlib.import_module(f"sailpoint.{ver}")
            ApiClient = mod.ApiClient
            self.suffix = ""
            names = ["PasswordPolicyV3Dto", "PasswordSyncGroup", "PasswordOrgConfig", "Source", "SourceOwner", "JsonPatchOperation",
                     "JsonPatchOperationValue", "PasswordDigitTokenReset", "CustomPasswordInstruction", "PasswordPolicyHoldersDtoInner"]
            self.models = {n: getattr(mod, n) for n in names if hasattr(mod, n)}
            # beta types a patch value with another generated class.
            self.models.setdefault("JsonPatchOperationValue", getattr(mod, "UpdateMultiHostSourcesRequestInnerValue", None))
            apis = {"policies": mod.PasswordPoliciesApi, "groups": mod.PasswordSyncGroupsApi, "dictionary": mod.PasswordDictionaryApi,
                    "config": mod.PasswordConfigurationApi, "management": mod.PasswordManagementApi, "sources": mod.SourcesApi}
            if hasattr(mod, "CustomPasswordInstructionsApi"):
                apis["custom"] = mod.CustomPasswordInstructionsApi
            self.status_method = "get_identity_password_change_status" if ver == "beta" else "get_password_change_status"
        self.app = {k: v(ApiClient(app_cfg)) for k, v in apis.items()}
        self.admin = {k: v(ApiClient(admin_cfg)) for k, v in apis.items()}

    def _experimental(self, api, kwargs):
        """ISC's v2024, v2025 and v1 specs mark the password-policy operations experimental
        (X-SailPoint-Experimental required), but neither SDK sends the header by itself for
        them (SDK 1.x has no parameter for it): send it as ISC requires."""
        if api == "policies" and self.ver in ("v2024", "v2025", "v1"):
            kwargs.setdefault("_headers", {"X-SailPoint-Experimental": "true"})
        return kwargs

    def call(self, who, api, method, *args, **kwargs):
        target = (self.admin if who == "admin" else self.app)[api]
        return getattr(target, method + self.suffix)(*args, **self._experimental(api, kwargs))

    def info(self, who, api, method, *args, **kwargs):
        """Like `call`, but returns the SDK's ApiResponse (status code and headers too)."""
        target = (self.admin if who == "admin" else self.app)[api]
        return getattr(target, method + self.suffix + "_with_http_info")(*args, **self._experimental(api, kwargs))


def encrypt(public_key_b64, plaintext):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    key = serialization.load_der_public_key(base64.b64decode(public_key_b64))
    return base64.b64encode(key.encrypt(plaintext.encode(), padding.PKCS1v15())).decode()


def path_of(ver, api, rest=""):
    return f"/{api}/v1{rest}" if ver == "v1" else f"/{ver}/{api}{rest}"
