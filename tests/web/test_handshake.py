"""Who is connecting: ``socket.handshake`` as real clients send it, and refusing a client by
what its request says (a cookie, its ``Origin``, its address behind a trusted proxy).

Every test runs on both bindings (uvicorn, hypercorn), with the official JavaScript client and
python-socketio's, over long-polling and WebSocket only: what the client sees of a refusal is
checked, not only what the server did.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from _web_clients import PYTHON_CLIENT_LEAK, Web, run

pytestmark = PYTHON_CLIENT_LEAK

ALLOWED = "http://app.example"
FOREIGN = "http://evil.example"


def _handshake_record(socket: Any) -> dict[str, Any]:
    """What the server saw, as plain values (the journal crosses threads)."""
    handshake = socket.handshake
    return {
        "headers": dict(handshake.headers),
        "cookies": dict(handshake.cookies),
        "address": handshake.address,
        "client": None if handshake.client is None else list(handshake.client),
        "url": handshake.url,
        "query": dict(handshake.query),
        "issued": handshake.issued,
        "time": handshake.time,
        "secure": handshake.secure,
        "xdomain": handshake.xdomain,
        "auth": handshake.auth,
        "scope_type": None if handshake.scope is None else handshake.scope["type"],
    }


def _refusing_server(api: ModuleType, web: Web, **options: Any) -> Any:
    """A server whose connect handler refuses by cookie, by Origin and by address, with a
    message and data that say which."""
    server = api.AsyncServer(**options)

    @server.on("connect")
    async def connect(socket: Any, auth: Any) -> None:
        handshake = socket.handshake
        web.journal.add(("connect", _handshake_record(socket)))
        if handshake.cookies.get("session") == "banned":
            raise api.ConnectionRefusedError("bad cookie", {"cookie": "session"})
        if handshake.headers.get("origin") == FOREIGN:
            raise api.ConnectionRefusedError("bad origin", {"origin": FOREIGN})
        if handshake.address == "203.0.113.66":
            raise api.ConnectionRefusedError("banned address", {"address": handshake.address})

    return server


async def _refused(client: Any) -> dict[str, Any]:
    await client.open()
    error: dict[str, Any] = await client.wait_for("connect_error", nsp="/")
    assert not client.find("connect")
    return error


def test_connect_handler_refuses_by_cookie(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    async def scenario(web: Web) -> None:
        server = _refusing_server(api, web)
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            banned = web.client(
                client_kind, served.url, transport, headers={"cookie": "theme=dark; session=banned"}
            )
            error = await _refused(banned)
            assert (error["message"], error["data"]) == ("bad cookie", {"cookie": "session"})
            good = await web.connect(
                client_kind, served.url, transport, headers={"cookie": "theme=dark; session=ok"}
            )
            assert good.sids["/"]
            seen = [record["cookies"] for (record,) in web.journal.find("connect")]
            assert seen == [
                {"theme": "dark", "session": "banned"},
                {"theme": "dark", "session": "ok"},
            ]

    run(binding, scenario, node=node)


def test_connect_handler_refuses_by_origin(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    async def scenario(web: Web) -> None:
        # Any origin passes the server's check: the handler decides.
        server = _refusing_server(api, web, cors_allowed_origins="*")
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            foreign = web.client(client_kind, served.url, transport, headers={"origin": FOREIGN})
            error = await _refused(foreign)
            assert (error["message"], error["data"]) == ("bad origin", {"origin": FOREIGN})
            await web.connect(client_kind, served.url, transport, headers={"origin": ALLOWED})
            origins = [record["headers"]["origin"] for (record,) in web.journal.find("connect")]
            assert origins == [FOREIGN, ALLOWED]  # a refused client does not try again

    run(binding, scenario, node=node)


def test_cors_allowed_origins_refuses_before_any_handler(
    binding: str,
    api: ModuleType,
    node: str,
    client_kind: str,
    transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A foreign ``Origin`` gets 403 ``{"code": 4, "message": "Origin not allowed"}`` from
    the handshake request itself: no session, no handler; what each client makes of it."""
    caplog.set_level(logging.WARNING, logger="sansio_rooms")

    async def scenario(web: Web) -> None:
        server = _refusing_server(api, web, cors_allowed_origins=[ALLOWED])
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            foreign = web.client(client_kind, served.url, transport, headers={"origin": FOREIGN})
            error = await _refused(foreign)
            if client_kind == "node" and transport == "polling":
                assert error["message"] == "xhr poll error"
                assert error["description"] == 403  # the HTTP status
                assert _json(error["body"]) == {"code": 4, "message": "Origin not allowed"}
            elif client_kind == "node":
                assert error["message"] == "websocket error"  # a browser tells no more
            elif transport == "polling":  # python-socketio hands over the JSON body
                assert error["raw"] == {"code": 4, "message": "Origin not allowed"}
            else:
                assert error["raw"] == "Connection error"
            if client_kind == "node":  # it tries again (reconnection): refused each time
                await foreign.wait_for("connect_error", nsp="/", count=2)
            await web.connect(client_kind, served.url, transport, headers={"origin": ALLOWED})
            # The allowed client's connect is the only one the handler saw.
            assert [r["headers"]["origin"] for (r,) in web.journal.find("connect")] == [ALLOWED]
        refusals = [r for r in caplog.records if "is not allowed" in r.getMessage()]
        assert [r.getMessage().split()[1] for r in refusals] == [repr(FOREIGN)]  # logged once

    run(binding, scenario, node=node)


def test_trusted_proxy_forwarded_address(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    """Behind ``trusted_proxies=["127.0.0.1"]`` the address is the rightmost untrusted hop of
    ``X-Forwarded-For``, and a connect handler can refuse by it; without it, the header is
    not believed (uvicorn's own ``proxy_headers`` is off here, as hypercorn has none)."""

    async def scenario(web: Web) -> None:
        server = _refusing_server(api, web, trusted_proxies=["127.0.0.1"])
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            banned = web.client(
                client_kind,
                served.url,
                transport,
                headers={"x-forwarded-for": "203.0.113.66, 127.0.0.1"},
            )
            error = await _refused(banned)
            assert (error["message"], error["data"]) == (
                "banned address",
                {"address": "203.0.113.66"},
            )
            forwarded = {"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"}
            await web.connect(client_kind, served.url, transport, headers=forwarded)
            record = web.journal.find("connect")[-1][0]
            assert record["address"] == "198.51.100.7"
            assert record["secure"] is True  # TLS ended at the proxy
            assert record["client"][0] == "127.0.0.1"  # the peer, as the ASGI server gave it

        untrusting = _refusing_server(api, web)
        async with web.serve(
            lambda: api.ASGIApp(untrusting), before_stop=untrusting.shutdown
        ) as served:
            forwarded = {"x-forwarded-for": "203.0.113.66", "x-forwarded-proto": "https"}
            await web.connect(client_kind, served.url, transport, headers=forwarded)
            (record,) = web.journal.find("connect")[-1]
            assert record["address"] == "127.0.0.1"
            assert record["secure"] is False
            assert record["headers"]["x-forwarded-for"] == "203.0.113.66"

    run(binding, scenario, node=node)


def test_handshake_is_the_same_over_polling_and_websocket(
    binding: str, api: ModuleType, node: str, client_kind: str
) -> None:
    """``socket.handshake`` describes the request that opened the Engine.IO session, whichever
    the transport; after an upgrade it is still the long-polling request."""
    headers = {"cookie": "session=s1; theme=dark", "origin": ALLOWED, "x-custom": "yes"}
    auth = {"token": "t1"}

    async def scenario(web: Web) -> None:
        server = api.AsyncServer(cors_allowed_origins=[ALLOWED])

        @server.on("connect")
        async def connect(socket: Any, auth: Any) -> None:
            web.journal.add(("connect", socket.handshake.query["who"], _handshake_record(socket)))

        @server.on("handshake")
        async def handshake(socket: Any) -> Any:
            return _handshake_record(socket)

        before = int(time.time() * 1000)
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            seen: dict[str, dict[str, Any]] = {}
            for transport in ("polling", "ws", "upgrade"):
                client = await web.connect(
                    client_kind,
                    served.url,
                    transport,
                    headers=headers,
                    query={"who": transport, "room": "lobby"},
                    auth=auth,
                )
                seen[transport] = await client.call1("handshake")
        after = int(time.time() * 1000)
        assert {who: record for who, record in web.journal.find("connect")} == seen

        opened_by = {"polling": "polling", "ws": "websocket", "upgrade": "polling"}
        for transport, record in seen.items():
            for name, value in headers.items():
                assert record["headers"][name] == value
            assert record["cookies"] == {"session": "s1", "theme": "dark"}
            assert record["address"] == "127.0.0.1"
            assert record["client"][0] == "127.0.0.1"
            url = urlsplit(record["url"])
            assert url.path == "/socket.io/"
            assert dict(parse_qsl(url.query, keep_blank_values=True)) == record["query"]
            assert record["query"]["transport"] == opened_by[transport]
            assert record["query"]["EIO"] == "4"
            assert record["query"]["who"] == transport
            assert record["query"]["room"] == "lobby"
            assert before <= record["issued"] <= after
            issued = datetime.fromisoformat(record["time"])
            assert issued.utcoffset() == timedelta(0)  # UTC
            # The same instant, to the millisecond (each rounded its own way).
            assert abs(int(issued.timestamp() * 1000) - record["issued"]) <= 1
            assert record["secure"] is False
            assert record["xdomain"] is True
            assert record["auth"] == auth
            assert record["scope_type"] == (
                "http" if opened_by[transport] == "polling" else "websocket"
            )

    run(binding, scenario, node=node)


def test_handshake_without_origin_is_not_cross_domain(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    async def scenario(web: Web) -> None:
        server = api.AsyncServer()

        @server.on("handshake")
        async def handshake(socket: Any) -> Any:
            return _handshake_record(socket)

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            client = await web.connect(client_kind, served.url, transport)
            record = await client.call1("handshake")
            assert "origin" not in record["headers"]
            assert record["xdomain"] is False
            assert record["cookies"] == {}
            assert record["auth"] == {}

    run(binding, scenario, node=node)


def _json(text: str | None) -> Any:
    assert text is not None
    return json.loads(text)
