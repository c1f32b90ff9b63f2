"""A real SMTP server for Ballotwatch's tests: aiosmtpd on 127.0.0.1.

--tls none|starttls|tls (STARTTLS is then required before MAIL), --cert/--key (PEM),
--auth USER:PASS (AUTH PLAIN/LOGIN required), --maildir DIR: every accepted message is written
as DIR/<n>.json {"mail_from", "rcpt_tos", "data"} before the 250 reply. While the file
--refuse-dir/<envelope sender> exists, DATA from that sender is answered 451 (a temporary
failure): tests sharing one server each send from their own address. Prints "READY <port>" once
listening.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, maildir, refuse_dir):
        self.maildir = maildir
        self.refuse_dir = refuse_dir
        self.n = len([f for f in os.listdir(maildir) if f.endswith(".json")])

    async def handle_DATA(self, server, session, envelope):
        sender = os.path.basename(envelope.mail_from or "")
        if self.refuse_dir and sender and os.path.exists(os.path.join(self.refuse_dir, sender)):
            return "451 4.3.0 Temporarily unavailable, try again later"
        self.n += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf8", errors="replace"),
        }
        tmp = os.path.join(self.maildir, f".{self.n:06d}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.maildir, f"{self.n:06d}.json"))
        return "250 OK queued"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth")
    p.add_argument("--maildir", required=True)
    p.add_argument("--refuse-dir")
    a = p.parse_args()

    ctx = None
    if a.tls != "none":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        if not a.auth or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, _, password = a.auth.partition(":")
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok)

    handler = Handler(a.maildir, a.refuse_dir)

    def factory():
        kwargs = dict(
            hostname="ballotwatch-test",
            authenticator=authenticator if a.auth else None,
            auth_required=bool(a.auth),
            # With implicit TLS the whole connection is encrypted, but aiosmtpd only knows about
            # TLS it negotiated itself (STARTTLS).
            auth_require_tls=a.tls == "starttls",
        )
        if a.tls == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        return SMTP(handler, **kwargs)

    async def run():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory, "127.0.0.1", a.port, ssl=ctx if a.tls == "tls" else None
        )
        print(f"READY {a.port}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
