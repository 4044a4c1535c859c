#!/usr/bin/env python3
"""A webhook receiver for passbroker's event tests, on 127.0.0.1 and a random port.

Every POST is checked with the `standardwebhooks` library (the signing secret is read from
DIR/secret at each request, so the test can write it after creating the subscription) and
parsed with the CloudEvents SDK (`cloudevents`), then recorded as one JSON line in
DIR/deliveries.jsonl:

  {"webhookId", "verified", "verifyError", "event": {specversion, id, source, type, subject,
   time, datacontenttype}, "data", "answered", "authorization", "contentType"}

How it answers is read from DIR/mode at each request: `ok` (204, the default), `500`, or
`hang` (answers nothing until the client gives up). Prints the port on the first line of
stdout, then serves until killed (or, with --exit-on-eof, until its stdin closes).

  receiver.py --dir DIR [--port N] [--exit-on-eof]

Installed by scripts/install-services.sh into the test venv (standardwebhooks and
cloudevents from PyPI).
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.v1.http import from_http
from standardwebhooks import Webhook


def read(path, default):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


class Handler(BaseHTTPRequestHandler):
    directory = "."
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        mode = read(os.path.join(self.directory, "mode"), "ok")
        secret = read(os.path.join(self.directory, "secret"), "")
        record = {
            "webhookId": headers.get("webhook-id"),
            "authorization": headers.get("authorization"),
            "contentType": headers.get("content-type"),
            "verified": False,
            "verifyError": None,
            "event": None,
            "data": None,
        }
        try:
            Webhook(secret).verify(body, headers)
            record["verified"] = True
        except Exception as e:  # noqa: BLE001 - record why, the test asserts on it
            record["verifyError"] = f"{type(e).__name__}: {e}"
        try:
            event = from_http(headers, body)
            attrs = event.get_attributes()
            record["event"] = {k: attrs.get(k) for k in
                               ("specversion", "id", "source", "type", "subject", "time",
                                "datacontenttype")}
            record["data"] = event.get_data()
        except Exception as e:  # noqa: BLE001
            record["parseError"] = f"{type(e).__name__}: {e}"
        if mode == "hang":
            record["answered"] = "hang"
            self.append(record)
            time.sleep(3600)
            return
        status = 500 if mode == "500" else 204
        record["answered"] = status
        self.append(record)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def append(self, record):
        line = json.dumps(record) + "\n"
        with self.lock:
            with open(os.path.join(self.directory, "deliveries.jsonl"), "a") as f:
                f.write(line)
                f.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--exit-on-eof", action="store_true")
    args = p.parse_args()
    Handler.directory = args.dir
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(server.server_address[1], flush=True)
    if args.exit_on_eof:
        def watch():
            sys.stdin.read()
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
