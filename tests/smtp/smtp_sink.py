#!/usr/bin/env python3
"""A real SMTP server for passbroker's tests (aiosmtpd), on 127.0.0.1 and a random port.

Every message it accepts is written to DIR as NNNNNN.eml (the envelope recipients in an
`X-Sink-Rcpt` header line, then the message as received), renamed into place when complete,
so a test can poll DIR. Prints the port on the first line of stdout, then serves until it is
killed (or, with --exit-on-eof, until its stdin closes: the test process ended).

  smtp_sink.py --dir DIR [--port N] [--exit-on-eof] [--mode none|starttls|tls --cert CERT --key KEY]
               [--user USER --password PASSWORD]

With --user, AUTH is required before MAIL (and, unless --mode none, only after TLS).
Installed by scripts/install-services.sh into the test venv (aiosmtpd from PyPI).
"""
import argparse
import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        tmp = os.path.join(self.directory, f".{n:06d}.tmp")
        with open(tmp, "wb") as f:
            f.write(b"X-Sink-Rcpt: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, f"{n:06d}.eml"))
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--exit-on-eof", action="store_true")
    p.add_argument("--mode", choices=["none", "starttls", "tls"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password", default="")
    args = p.parse_args()
    context = None
    if args.mode != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    handler = Sink(args.dir)

    def factory():
        kw = {"hostname": "localhost"}
        if args.mode == "starttls":
            kw.update(tls_context=context, require_starttls=True)
        if args.user:
            kw.update(
                authenticator=authenticator(args.user, args.password),
                auth_required=True,
                auth_require_tls=args.mode == "starttls",
            )
        return SMTP(handler, **kw)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", args.port, ssl=context if args.mode == "tls" else None
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    if args.exit_on_eof:
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()
    else:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
