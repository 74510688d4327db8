"""The bindings' own server (``serve(app)``): everything that is not a Socket.IO WebSocket goes
through the app as ASGI (static files, the other app's pages, 404s), the other app's lifespan
runs around it, and what a hostile or broken client sends stays its own problem. The
Socket.IO side runs the interop and conformance suites (``asyncio-native``, ``trio-native``)."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
import websockets
from _interop_bindings import BINDINGS, serve_app
from _web_clients import Web, run
from fastapi import FastAPI

NATIVE = sorted(name for name in BINDINGS if name.endswith("-native"))


@pytest.fixture(params=NATIVE)
def native(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _api(native: str) -> ModuleType:
    return importlib.import_module("sansio_rooms_" + native.removesuffix("-native"))


def _fastapi(journal: list[str]) -> FastAPI:
    async def lifespan(app: FastAPI) -> Any:
        journal.append("app startup")
        yield
        journal.append("app shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


def test_pages_files_and_404_through_the_app(native: str, tmp_path: Path) -> None:
    """The other app's pages (GET and POST, on one keep-alive connection), a static file, a
    404, an app that fails (500, and the next request is served), and the other app's lifespan
    around the server's."""
    api = _api(native)
    page = tmp_path / "index.html"
    page.write_text("<h1>chat</h1>")
    journal: list[str] = []

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        build = lambda: api.ASGIApp(  # noqa: E731
            server, _fastapi(journal), static_files={"/": page}
        )
        async with web.serve(build, before_stop=server.shutdown) as served:
            assert journal == ["app startup"]
            connector = aiohttp.TCPConnector(limit=1)  # every request on one connection
            async with aiohttp.ClientSession(served.url, connector=connector) as http:
                async with http.get("/hello") as response:
                    assert (response.status, await response.json()) == (200, {"hello": "world"})
                async with http.post("/echo", json={"a": [1, 2]}) as response:
                    assert await response.json() == {"a": [1, 2]}
                async with http.get("/") as response:
                    assert response.headers["content-type"] == "text/html"
                    assert await response.text() == "<h1>chat</h1>"
                async with http.get("/missing") as response:
                    assert response.status == 404
                async with http.get("/boom") as response:
                    assert response.status == 500
                async with http.get("/hello") as response:
                    assert response.status == 200
                async with http.get("/socket.io/?EIO=4&transport=polling") as response:
                    assert (await response.text()).startswith("0{")
        assert journal == ["app startup", "app shutdown"]

    run(native, scenario)


def test_websockets_outside_the_socketio_path_get_404(native: str) -> None:
    api = _api(native)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            ws_url = served.url.replace("http", "ws")
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(ws_url + "/elsewhere")
            assert refused.value.response.status_code == 404
            # The Socket.IO path still takes WebSockets.
            async with websockets.connect(
                ws_url + "/socket.io/?EIO=4&transport=websocket"
            ) as socket:
                assert (await socket.recv()).startswith("0{")

    run(native, scenario)


def test_a_foreign_origin_is_refused_at_the_handshake(native: str) -> None:
    """What ``cors_allowed_origins`` answers on the ASGI servers, answered here too: 403 with
    Engine.IO's JSON error, before any session exists."""
    api = _api(native)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer(cors_allowed_origins=["http://good.test"])
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            url = served.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url, origin=websockets.Origin("http://evil.test"))
            response = refused.value.response
            assert response.status_code == 403
            assert json.loads(response.body) == {"code": 4, "message": "Origin not allowed"}
            async with websockets.connect(
                url, origin=websockets.Origin("http://good.test")
            ) as socket:
                assert (await socket.recv()).startswith("0{")

    run(native, scenario)


async def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new TCP connection; everything the server answers until it
    closes (bounded)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def test_hostile_bytes_stay_on_their_connection(native: str) -> None:
    """Garbage for HTTP gets 400 and a close; a body over ``max_payload`` gets 413; garbage
    after a WebSocket opened gets a 1002 close; a connection dropped mid-request is just
    gone. A client connected meanwhile notices nothing."""
    api = _api(native)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer(max_payload=1000)

        @server.on("echo")
        async def echo(socket: Any, value: Any) -> Any:
            return value

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            client = await web.connect("python", served.url, "ws")
            assert await client.call1("echo", "before") == "before"

            answer = await _raw(served.port, b"\x00\xffGARBAGE\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 400 ")
            big = b"x" * 5000
            answer = await _raw(
                served.port,
                b"POST /socket.io/?EIO=4&transport=polling&sid=nope HTTP/1.1\r\nHost: h\r\n"
                b"Content-Length: 5000\r\n\r\n" + big,
            )
            assert answer.startswith(b"HTTP/1.1 413 ")

            ws_url = served.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            async with websockets.connect(ws_url) as socket:
                await socket.recv()
                # An unmasked frame from a client: a protocol error.
                socket.transport.write(b"\x81\x05hello")
                await asyncio.wait_for(socket.wait_closed(), 5)
                assert socket.close_code == 1002

            _reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(b"POST /socket.io/ HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nab")
            await writer.drain()
            writer.close()

            assert await client.call1("echo", "after") == "after"

    run(native, scenario)


def test_a_stopped_server_tells_its_clients_and_closes(native: str) -> None:
    """On stop, a connected socket's WebSocket is closed (1000, as Node's ``io.close()``
    closes it), its handlers run ("server shutting down"), then the port is closed."""
    api = _api(native)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        disconnects: list[str] = []

        @server.on("disconnect")
        async def disconnect(socket: Any, reason: str) -> None:
            disconnects.append(reason)

        async with serve_app(native, lambda: api.ASGIApp(server)) as served:
            url = served.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            socket = await websockets.connect(url)
            assert (await socket.recv()).startswith("0{")
            await socket.send("40")
            assert (await socket.recv()).startswith("40{")
        await asyncio.wait_for(socket.wait_closed(), 5)
        assert socket.close_code == 1000
        assert disconnects == ["server shutting down"]
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", served.port)

    run(native, scenario)


def test_idle_and_unfinished_http_connections_are_closed(
    native: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that sends nothing, or stops in the middle of a request, does not hold
    a socket forever (Node's keepAliveTimeout and headersTimeout); one between requests is
    kept for the keep-alive timeout."""
    api = _api(native)
    connection = importlib.import_module(api.__name__ + "._connection")
    monkeypatch.setattr(connection, "KEEP_ALIVE_TIMEOUT", 0.3)
    monkeypatch.setattr(connection, "REQUEST_TIMEOUT", 0.6)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            loop = asyncio.get_running_loop()
            silent = await asyncio.open_connection("127.0.0.1", served.port)
            partial = await asyncio.open_connection("127.0.0.1", served.port)
            partial[1].write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: h")
            started = loop.time()
            assert await asyncio.wait_for(silent[0].read(), 5) == b""  # closed, no answer
            assert 0.25 < loop.time() - started < 0.55
            assert await asyncio.wait_for(partial[0].read(), 5) == b""
            assert loop.time() - started > 0.55
            for _, writer in (silent, partial):
                writer.close()

    run(native, scenario)


def test_a_parked_get_is_answered_or_its_client_leaving_ends_the_session(native: str) -> None:
    """A parked GET waits for what is sent to its session; its client leaving instead ends
    the session ("transport error"), and the other sessions are untouched."""
    api = _api(native)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        disconnects: list[str] = []

        @server.on("ping")
        async def ping(socket: Any) -> None:
            await socket.emit("pong")

        @server.on("disconnect")
        async def disconnect(socket: Any, reason: str) -> None:
            disconnects.append(reason)

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            async with aiohttp.ClientSession() as http:
                url = served.url + "/socket.io/?EIO=4&transport=polling"
                queries = []
                for _ in range(2):
                    async with http.get(url) as response:
                        sid = json.loads((await response.text())[1:])["sid"]
                    query = f"{url}&sid={sid}"
                    async with http.post(query, data="40") as response:
                        assert await response.text() == "ok"
                    async with http.get(query) as response:
                        assert (await response.text()).startswith("40{")
                    queries.append(query)
                staying, leaving = queries
                parked = asyncio.ensure_future(http.get(staying))
                await asyncio.sleep(0.2)
                assert not parked.done()
                async with http.post(staying, data='42["ping"]') as response:
                    assert await response.text() == "ok"
                async with await asyncio.wait_for(parked, 5) as response:
                    assert await response.text() == '42["pong"]'
            # A raw connection parks a GET of the other session, then closes.
            path = leaving.removeprefix(served.url)
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            await writer.drain()
            with pytest.raises(TimeoutError):  # parked: no answer
                await asyncio.wait_for(reader.read(1), 0.3)
            writer.close()
            for _ in range(50):  # (the trio server runs in a thread of its own)
                if disconnects:
                    break
                await asyncio.sleep(0.1)
            assert disconnects == ["transport error"]

    run(native, scenario)


def test_thousands_of_pipelined_long_polls_are_answered_in_order(native: str) -> None:
    """A client may send its requests without waiting for the answers (HTTP/1.1 pipelining):
    every one gets its answer, in order, however many came in one read."""
    api = _api(native)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            async with aiohttp.ClientSession() as http:
                url = served.url + "/socket.io/?EIO=4&transport=polling"
                async with http.get(url) as response:
                    sid = json.loads((await response.text())[1:])["sid"]
            post = (
                f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                "Host: h\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 1\r\n\r\n3"
            ).encode()
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            count = 2000
            writer.write(post * count)
            await writer.drain()
            answers = b""
            while answers.count(b"HTTP/1.1 200 ") < count:
                chunk = await asyncio.wait_for(reader.read(65536), 10)
                assert chunk, f"closed after {answers.count(b'HTTP/1.1 200 ')} answers"
                answers += chunk
            assert answers.count(b"\r\n\r\nok") == count
            writer.close()

    run(native, scenario)


def test_a_refused_upload_gets_its_answer_and_an_orderly_end(native: str) -> None:
    """A body over ``max_payload`` is refused (413) while the client is still sending it:
    the client reads the whole answer, then the end of the connection, never a reset (what
    it sends meanwhile is read and dropped)."""
    api = _api(native)

    async def scenario(web: Web) -> None:
        server = api.AsyncServer(max_payload=1000)
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(
                b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: h\r\n"
                b"Content-Length: 400000\r\n\r\n" + b"x" * 2000
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 413 ")
            for _ in range(40):  # the client goes on uploading a while
                writer.write(b"x" * 10_000)
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), 5)  # the body, then EOF: no reset
            assert rest == b"Payload Too Large"
            writer.close()

    run(native, scenario)
