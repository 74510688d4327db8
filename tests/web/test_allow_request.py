"""``allow_request``: the hook that sees every request that would open an Engine.IO session,
and refuses it with HTTP 403 (``False``: "Forbidden"; ``ConnectionRefusedError(message)``:
that message), sync or async, over long-polling and WebSocket; what real clients make of it.
On both bindings.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import aiohttp
import anyio
import pytest
from _web_clients import PYTHON_CLIENT_LEAK, Web, run

pytestmark = PYTHON_CLIENT_LEAK

POLLING = "/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


def _hook(kind: str, api: ModuleType, web: Web) -> Callable[[Any], Any]:
    """An ``allow_request`` that refuses requests with ``X-Deny``, the way ``kind`` says."""

    def record(request: Any) -> bool:
        web.journal.add(
            (
                "request",
                {
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "address": request.address,
                    "xdomain": request.xdomain,
                    "deny": request.headers.get("x-deny"),
                },
            )
        )
        return "x-deny" in request.headers

    def sync_false(request: Any) -> bool:
        return not record(request)

    def sync_raise(request: Any) -> None:
        if record(request):
            raise api.ConnectionRefusedError("nope")

    async def async_false(request: Any) -> bool:
        await anyio.sleep(0)  # a real await, in whichever loop serves it
        return not record(request)

    async def async_raise(request: Any) -> None:
        await anyio.sleep(0)
        if record(request):
            raise api.ConnectionRefusedError("nope")

    return {
        "sync_false": sync_false,
        "sync_raise": sync_raise,
        "async_false": async_false,
        "async_raise": async_raise,
    }[kind]


HOOKS = {
    "sync_false": "Forbidden",
    "sync_raise": "nope",
    "async_false": "Forbidden",
    "async_raise": "nope",
}


async def _open(http: aiohttp.ClientSession, url: str, transport: str, deny: bool) -> Any:
    """The answer to a request that opens a session: a long-polling handshake, or a
    WebSocket upgrade request (sent as plain HTTP, to read a refusal's body)."""
    headers = {"X-Deny": "1"} if deny else {}
    if transport == "polling":
        target = url + POLLING
    else:
        target = url + WEBSOCKET
        headers |= {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        }
    async with http.get(target, headers=headers) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_allow_request_refuses(binding: str, api: ModuleType, transport: str, hook: str) -> None:
    async def scenario(web: Web) -> None:
        server = api.AsyncServer(allow_request=_hook(hook, api, web))
        serving = web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown)
        async with serving as served, aiohttp.ClientSession() as http:
            status, body = await _open(http, served.url, transport, deny=True)
            assert status == 403
            assert json.loads(body) == {"code": 4, "message": HOOKS[hook]}
            assert await served.call_sync(lambda: len(server.engineio)) == 0
            if transport == "polling":  # allowed: the session opens
                status, body = await _open(http, served.url, transport, deny=False)
                assert (status, body[:2]) == (200, "0{")
        (first, *_) = web.journal.find("request")
        assert first == (
            {
                "method": "GET",
                "path": "/socket.io/",
                "query": {"EIO": "4", "transport": "websocket" if transport == "ws" else "polling"},
                "address": "127.0.0.1",
                "xdomain": False,
                "deny": "1",
            },
        )

    run(binding, scenario)


def test_allow_request_and_real_clients(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    """A refused client gets a ``connect_error`` (each client its own way); an allowed one
    connects, and the hook sees its session's first request only."""

    async def scenario(web: Web) -> None:
        server = api.AsyncServer(allow_request=_hook("async_raise", api, web))

        @server.on("echo")
        async def echo(socket: Any, value: Any) -> Any:
            return value

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            refused = web.client(client_kind, served.url, transport, headers={"x-deny": "1"})
            await refused.open()
            error = await refused.wait_for("connect_error", nsp="/")
            assert not refused.find("connect")
            if client_kind == "node" and transport == "polling":
                assert error["message"] == "xhr poll error"
                assert error["description"] == 403
                assert json.loads(error["body"]) == {"code": 4, "message": "nope"}
            elif client_kind == "node":
                assert error["message"] == "websocket error"
            elif transport == "polling":
                assert error["raw"] == {"code": 4, "message": "nope"}
            else:
                assert error["raw"] == "Connection error"
            for transport_ in (transport, "upgrade"):
                allowed = await web.connect(client_kind, served.url, transport_)
                for n in range(3):  # a few requests (polls, posts) of the same session
                    assert await allowed.call1("echo", n) == n
            # One request each opened a session: the long-polling handshake for "upgrade".
            # (The refused JavaScript client tries again meanwhile: not counted.)
            requests = [r for (r,) in web.journal.find("request") if r["deny"] is None]
            opened_by = "websocket" if transport == "ws" else "polling"
            assert [r["query"]["transport"] for r in requests] == [opened_by, "polling"]

    run(binding, scenario, node=node)
