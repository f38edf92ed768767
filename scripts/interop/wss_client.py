"""A Python `websockets` client against echo_server over TLS, with and without
the bearer token. Run by scripts/interop-python; exits non-zero on the first
broken promise, printing what it saw.

usage: wss_client.py ADDR CA_PEM TOKEN
"""

import asyncio
import json
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, InvalidMessage

ADDR, CA, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]
URL = f"wss://{ADDR}/"


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=CA)
    return context


async def handshake_and_echo(headers: dict) -> None:
    """The three-message handshake, then POST /echo twice, checked."""
    async with connect(URL, ssl=tls_context(), additional_headers=headers,
                       open_timeout=10) as ws:
        await ws.send(json.dumps({"Type": "ClientHandshakeMetaData",
                                  "Meta": {"client": "python-websockets"}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply.get("Type") == "ServerHandshakeConnectionID", reply
        assert len(reply.get("ConnectionID", "")) == 36, reply
        await ws.send(json.dumps({"Type": "ClientHandshakeAckFrame"}))
        for n, body in enumerate([b'{"hello":"tls"}', "zw\u00f6lf".encode()]):
            request = (f"POST /echo?n={n} HTTP/1.1\r\nHost: localhost\r\n"
                       f"Content-Length: {len(body)}\r\n"
                       f"X-Correlation-Id: py-{n}\r\n\r\n").encode() + body
            await ws.send(request.decode())
            answer = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(answer, str):
                answer = answer.encode()
            head, _, got = answer.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            assert lines[0] == "HTTP/1.1 200 OK", lines[0]
            fields = {k.lower(): v.strip() for k, v in
                      (line.split(":", 1) for line in lines[1:])}
            assert fields.get("x-correlation-id") == f"py-{n}", fields
            assert fields.get("x-echo-path") == f"/echo?n={n}", fields
            assert got == body, (got, body)
    print(f"ok: wss:// handshake and 2 echo calls with headers {sorted(headers)}")


async def expect_status(headers: dict, status: int, label: str) -> None:
    try:
        async with connect(URL, ssl=tls_context(), additional_headers=headers,
                           open_timeout=10):
            pass
    except InvalidStatus as error:
        got = error.response.status_code
        body = error.response.body.decode(errors="replace").strip()
        assert got == status, f"{label}: HTTP {got} {body!r}, wanted {status}"
        assert body, f"{label}: the {got} has no body"
        print(f"ok: {label}: HTTP {got} {body!r}")
        return
    raise AssertionError(f"{label}: the upgrade was accepted")


async def plain_ws_on_tls_port() -> None:
    try:
        async with connect(f"ws://{ADDR}/", open_timeout=10):
            pass
    except InvalidStatus as error:
        got = error.response.status_code
        body = error.response.body.decode(errors="replace").strip()
        assert got == 400 and "wss://" in body, f"ws:// on TLS: HTTP {got} {body!r}"
        print(f"ok: ws:// on the TLS port: HTTP {got} {body!r}")
        return
    except (InvalidMessage, OSError, EOFError) as error:
        print(f"ok: ws:// on the TLS port fails: {type(error).__name__}: {error}")
        return
    raise AssertionError("ws:// on the TLS port was accepted")


async def untrusted_certificate() -> None:
    try:
        async with connect(URL, ssl=ssl.create_default_context(),
                           additional_headers=bearer(TOKEN), open_timeout=10):
            pass
    except ssl.SSLCertVerificationError as error:
        print(f"ok: without the CA the certificate is refused: {error.verify_message}")
        return
    raise AssertionError("an untrusted certificate was accepted")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def main() -> None:
    await handshake_and_echo(bearer(TOKEN))
    await expect_status({}, 401, "no token")
    await expect_status(bearer(TOKEN + "x"), 401, "a wrong token")
    await plain_ws_on_tls_port()
    await untrusted_certificate()
    # The server still serves after all of the above.
    await handshake_and_echo(bearer(TOKEN))


asyncio.run(main())
