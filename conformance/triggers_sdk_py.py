#!/usr/bin/env python3
"""The official SailPoint Python SDK's beta TriggersApi, unmodified, against passbroker:
create a webhook subscription, find it in the list (with a filter), update it, delete it.

  SAIL_BASE_URL=http://127.0.0.1:PORT SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... \\
  CONF_RECEIVER_URL=http://127.0.0.1:PORT2/hook /opt/passbroker-venvs/sdk1/bin/python conformance/triggers_sdk_py.py

Prints PASS/FAIL lines, then "N passed, N failed"; exit code 0 when every check passed.
"""
import io
import os
import sys
from contextlib import redirect_stdout

from sailpoint.beta.api.triggers_api import TriggersApi
from sailpoint.beta.api_client import ApiClient
from sailpoint.beta.models.http_config import HttpConfig
from sailpoint.beta.models.http_dispatch_mode import HttpDispatchMode
from sailpoint.beta.models.subscription_post_request import SubscriptionPostRequest
from sailpoint.beta.models.subscription_put_request import SubscriptionPutRequest
from sailpoint.beta.models.subscription_type import SubscriptionType
from sailpoint.configuration import Configuration, ConfigurationParams

results = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        detail = fn()
        results["passed"] += 1
        print(f"PASS [beta] triggers: {name}: {detail}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        results["failed"] += 1
        print(f"FAIL [beta] triggers: {name}: {type(e).__name__}: {e}")


def main():
    p = ConfigurationParams()
    p.base_url = os.environ["SAIL_BASE_URL"]
    p.client_id = os.environ["SAIL_CLIENT_ID"]
    p.client_secret = os.environ["SAIL_CLIENT_SECRET"]
    with redirect_stdout(io.StringIO()):
        cfg = Configuration(p)
    url = os.environ.get("CONF_RECEIVER_URL", "http://127.0.0.1:9/hook")
    state = {}
    with ApiClient(cfg) as client:
        api = TriggersApi(client)

        def create():
            s = api.create_subscription(SubscriptionPostRequest(
                name="SDK subscription", trigger_id="passbroker:password-change-finished",
                type=SubscriptionType.HTTP,
                http_config=HttpConfig(url=url, http_dispatch_mode=HttpDispatchMode.SYNC),
                filter='$[?($.outcome == "FINISHED")]'))
            assert s.id and s.trigger_id == "passbroker:password-change-finished", s
            assert s.http_config.url == url and s.enabled, s
            state["id"] = s.id
            return f"id {s.id}, triggerName {s.trigger_name!r}"
        check("create_subscription", create)

        def listed():
            subs = api.list_subscriptions(filters=f'id eq "{state["id"]}"')
            assert [s.id for s in subs] == [state["id"]], subs
            return f"{len(subs)} listed by id"
        check("list_subscriptions with filters", listed)

        def update():
            s = api.update_subscription(state["id"], SubscriptionPutRequest(
                name="SDK subscription 2", type=SubscriptionType.HTTP,
                http_config=HttpConfig(url=url, http_dispatch_mode=HttpDispatchMode.SYNC), enabled=False))
            assert s.name == "SDK subscription 2" and not s.enabled, s
            return "renamed and disabled"
        check("update_subscription", update)

        def delete():
            api.delete_subscription(state["id"])
            left = api.list_subscriptions(filters=f'id eq "{state["id"]}"')
            assert left == [], left
            return "gone from the list"
        check("delete_subscription", delete)
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(0 if results["failed"] == 0 else 1)


if __name__ == "__main__":
    main()
