"""CORS and origins over real HTTP: preflights, the headers of allowed cross-origin answers,
``cors_allowed_origins`` as ``"*"``, one origin, a list and a function, the same origin
allowed by default, a request without ``Origin`` allowed (not from a browser page).

Raw HTTP requests (aiohttp), as a browser would send them; on both bindings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from _web_clients import Web, run

ALLOWED = "http://app.example"
FOREIGN = "http://evil.example"
HANDSHAKE = "/socket.io/?EIO=4&transport=polling"
REFUSED = {"code": 4, "message": "Origin not allowed"}


def _serve(web: Web, api: ModuleType, **options: Any) -> Any:
    server = api.AsyncServer(**options)
    return server, web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown)


async def _handshake(
    http: aiohttp.ClientSession, url: str, origin: str | None, **headers: str
) -> tuple[int, dict[str, str], str]:
    if origin is not None:
        headers["Origin"] = origin
    async with http.get(url + HANDSHAKE, headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


def test_preflight_from_an_allowed_origin(binding: str, api: ModuleType) -> None:
    async def scenario(web: Web) -> None:
        server, serving = _serve(web, api, cors_allowed_origins=[ALLOWED])
        async with serving as served, aiohttp.ClientSession() as http:
            preflight = {
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-token",
            }
            async with http.options(served.url + HANDSHAKE, headers=preflight) as response:
                assert response.status == 204
                assert await response.read() == b""
                headers = response.headers
                assert headers["Access-Control-Allow-Origin"] == ALLOWED
                assert headers["Access-Control-Allow-Credentials"] == "true"
                assert headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
                assert headers["Access-Control-Allow-Headers"] == "content-type, x-token"
                assert "Origin" in headers["Vary"]
            # A preflight opens no session.
            assert await served.call_sync(lambda: len(server.engineio)) == 0

            preflight["Origin"] = FOREIGN
            async with http.options(served.url + HANDSHAKE, headers=preflight) as response:
                assert response.status == 403
                assert json.loads(await response.text()) == REFUSED
                assert "Access-Control-Allow-Origin" not in response.headers

    run(binding, scenario)


def test_polling_from_an_allowed_cross_origin(binding: str, api: ModuleType) -> None:
    """Every answer of the session to the page's requests (the handshake, a POST, a GET)
    carries ``Access-Control-Allow-Origin`` (and ``-Credentials``)."""

    async def scenario(web: Web) -> None:
        _, serving = _serve(web, api, cors_allowed_origins=[ALLOWED])
        async with serving as served, aiohttp.ClientSession() as http:
            status, headers, body = await _handshake(http, served.url, ALLOWED)
            assert status == 200
            assert body.startswith("0{")
            assert headers["Access-Control-Allow-Origin"] == ALLOWED
            assert headers["Access-Control-Allow-Credentials"] == "true"
            sid = json.loads(body[1:])["sid"]
            session = f"{served.url}{HANDSHAKE}&sid={sid}"
            origin = {"Origin": ALLOWED}
            async with http.post(session, data="40", headers=origin) as response:
                assert response.status == 200
                assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
            async with http.get(session, headers=origin) as response:
                assert response.status == 200
                assert (await response.text()).startswith("40{")
                assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
                assert response.headers["Access-Control-Allow-Credentials"] == "true"

    run(binding, scenario)


def _ends_with_example_org(origin: str) -> bool:
    return origin.endswith(".example.org")


@pytest.mark.parametrize(
    ("rule", "allowed", "refused"),
    [
        pytest.param("*", ["http://any.example", "https://x.test:8443"], [], id="any"),
        pytest.param(ALLOWED, [ALLOWED, ALLOWED + "/"], [FOREIGN], id="one"),
        pytest.param(
            [ALLOWED, "https://other.example"],
            [ALLOWED, "https://other.example", "HTTP://APP.EXAMPLE"],
            [FOREIGN, "https://app.example"],
            id="list",
        ),
        pytest.param(
            _ends_with_example_org,
            ["https://a.example.org", "http://b.example.org"],
            [FOREIGN, "https://example.org.evil.example"],
            id="function",
        ),
    ],
)
def test_cors_allowed_origins(
    binding: str,
    api: ModuleType,
    rule: str | list[str] | Callable[[str], bool],
    allowed: list[str],
    refused: list[str],
) -> None:
    async def scenario(web: Web) -> None:
        _, serving = _serve(web, api, cors_allowed_origins=rule)
        async with serving as served, aiohttp.ClientSession() as http:
            for origin in allowed:
                status, headers, body = await _handshake(http, served.url, origin)
                assert (origin, status) == (origin, 200)
                assert body.startswith("0{")
                assert headers["Access-Control-Allow-Origin"] == origin
            for origin in refused:
                status, headers, body = await _handshake(http, served.url, origin)
                assert (origin, status) == (origin, 403)
                assert json.loads(body) == REFUSED
                assert "Access-Control-Allow-Origin" not in headers
            # Not from a page: always allowed, and no CORS headers.
            status, headers, body = await _handshake(http, served.url, None)
            assert status == 200
            assert "Access-Control-Allow-Origin" not in headers
            # The same origin: always allowed.
            status, headers, _ = await _handshake(http, served.url, served.url)
            assert status == 200

    run(binding, scenario)


def test_same_origin_only_by_default(binding: str, api: ModuleType) -> None:
    async def scenario(web: Web) -> None:
        _, serving = _serve(web, api)
        async with serving as served, aiohttp.ClientSession() as http:
            status, headers, body = await _handshake(http, served.url, None)
            assert status == 200 and body.startswith("0{")
            assert "Access-Control-Allow-Origin" not in headers
            status, headers, body = await _handshake(http, served.url, served.url)
            assert status == 200 and body.startswith("0{")
            port = served.url.rsplit(":", 1)[1]
            for other in (FOREIGN, f"http://localhost:{port}", f"https://127.0.0.1:{port}"):
                status, headers, body = await _handshake(http, served.url, other)
                assert (other, status, json.loads(body)) == (other, 403, REFUSED)

    run(binding, scenario)


def test_same_origin_behind_a_trusted_proxy(binding: str, api: ModuleType) -> None:
    """The page's origin is the proxy's public one (``X-Forwarded-Proto/-Host``): the same
    origin, when the proxy is trusted; a foreign one otherwise."""
    public = "https://chat.example"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example"}

    async def scenario(web: Web) -> None:
        _, serving = _serve(web, api, trusted_proxies=["127.0.0.1"])
        async with serving as served, aiohttp.ClientSession() as http:
            status, headers, _ = await _handshake(http, served.url, public, **forwarded)
            assert status == 200
            assert headers["Access-Control-Allow-Origin"] == public
        _, serving = _serve(web, api)
        async with serving as served, aiohttp.ClientSession() as http:
            status, _, body = await _handshake(http, served.url, public, **forwarded)
            assert (status, json.loads(body)) == (403, REFUSED)

    run(binding, scenario)


def test_without_credentials(binding: str, api: ModuleType) -> None:
    async def scenario(web: Web) -> None:
        _, serving = _serve(web, api, cors_allowed_origins="*", cors_credentials=False)
        async with serving as served, aiohttp.ClientSession() as http:
            status, headers, _ = await _handshake(http, served.url, ALLOWED)
            assert status == 200
            assert headers["Access-Control-Allow-Origin"] == ALLOWED
            assert "Access-Control-Allow-Credentials" not in headers

    run(binding, scenario)
