#!/usr/bin/env python3
"""A real SMTP server for the notify tests, built on aiosmtpd.

    smtpd.py --port 0 --outdir DIR [--cert CERT --key KEY]
             [--implicit-tls] [--require-starttls]
             [--user USER --password PASSWORD]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints
"READY 127.0.0.1:PORT" on stdout once it accepts connections.

With --cert/--key the server offers STARTTLS, or speaks TLS from the first
byte with --implicit-tls. With --user/--password, AUTH (PLAIN and LOGIN)
with exactly these credentials is required before MAIL; over STARTTLS it is
only offered after the upgrade.

Every message received is written to DIR/msg-N.json as
{"mail_from": ..., "rcpt_tos": [...], "data": ..., "tls": bool,
 "auth_user": ...}. Recipients in the domain reject.invalid are refused
with 550. SIGTERM or SIGINT stops the server.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@reject.invalid"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        data = envelope.original_content or envelope.content
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="replace")
        auth_user = None
        if session.auth_data is not None:
            login = getattr(session.auth_data, "login", None)
            if isinstance(login, bytes):
                auth_user = login.decode("utf-8", errors="replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": data,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "auth_user": auth_user,
        }
        path = os.path.join(self.outdir, "msg-%d.json" % self.count)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, path)  # readers never see a partial file
        return "250 2.0.0 Message accepted for delivery"


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        ):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    return authenticator


def server_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(args):
    loop = asyncio.get_running_loop()
    handler = Handler(args.outdir)
    tls_ctx = server_context(args.cert, args.key) if args.cert else None
    auth = make_authenticator(args.user, args.password) if args.user else None

    def factory():
        return SMTP(
            handler,
            hostname="vigil-test-smtpd",
            tls_context=None if args.implicit_tls else tls_ctx,
            require_starttls=args.require_starttls,
            authenticator=auth,
            auth_required=auth is not None,
            # With implicit TLS the whole session is encrypted, which
            # aiosmtpd does not see as STARTTLS.
            auth_require_tls=not args.implicit_tls,
            loop=loop,
        )

    server = await loop.create_server(
        factory,
        host="127.0.0.1",
        port=args.port,
        ssl=tls_ctx if args.implicit_tls else None,
    )
    host, port = server.sockets[0].getsockname()[:2]
    print("READY %s:%d" % (host, port), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--outdir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--user")
    p.add_argument("--password", default="")
    args = p.parse_args()
    if bool(args.cert) != bool(args.key):
        p.error("--cert and --key go together")
    if args.implicit_tls and not args.cert:
        p.error("--implicit-tls needs --cert and --key")
    asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
