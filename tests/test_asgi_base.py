"""The loop-independent ASGI app (ASGIAppBase) in front of a server driven by hand: mounting
under a prefix (root_path), who may connect (origins, allow_request, CORS preflight and
headers) over long-polling and WebSocket, the other app's lifespan beside the server's, and
the options a server is created with."""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from sansio_rooms import (
    ASGIAppBase,
    ConnectionRefusedError,
    EngineIODriver,
    GatheredResponse,
    HandshakeRequest,
    LocalProtocolError,
    OtherLifespan,
    Socket,
)
from sansio_rooms._asgi import _route_path, encoded_headers, peer_address

from ._hand_driver import HandDriven
from ._memory_driver import Driver, Waiter

# -- the app, its requests and their answers -----------------------------------------------------


class _Yield:
    def __await__(self) -> Generator[None, None, None]:
        yield


class Pending:
    """The machine's handle for one HTTP request."""

    def __init__(self) -> None:
        self.response: Any = None

    def respond(self, response: Any) -> None:
        self.response = response


class App(ASGIAppBase):
    """What a binding adds, by hand: a parked GET waits across ``settle()`` rounds."""

    def __init__(self, server: Any, *args: Any, **options: Any) -> None:
        super().__init__(server, *args, **options)
        self.lazy_starts = 0
        self.websockets: list[Any] = []
        self.pending: list[Pending] = []

    async def _lifespan(self, scope: Any, receive: Any, send: Any) -> None:
        raise NotImplementedError  # the bindings' (OtherLifespan is tested on its own)

    async def _start_lazily(self) -> None:
        self.lazy_starts += 1
        self._lifespan_ran = True

    async def _websocket(self, scope: Any, receive: Any, send: Any) -> None:
        self.websockets.append(await self._admit_websocket(scope))

    def _pending_response(self) -> Pending:
        pending = Pending()
        self.pending.append(pending)
        return pending

    async def _wait_for_response(self, pending: Any, receive: Any) -> None:
        # Either the answer comes, or the client goes away: whichever the test makes first.
        exchange: Exchange = receive.__self__
        while pending.response is None:
            message = exchange.messages.pop(0) if exchange.messages else None
            if message is not None and message["type"] == "http.disconnect":
                return
            await _Yield()

    async def _read_file(self, path: Path) -> bytes:
        raise OSError(path)


class Exchange:
    """One ASGI request: what ``receive`` gives (``None``: nothing yet), what ``send`` got."""

    def __init__(self, messages: list[dict[str, Any] | None]) -> None:
        self.messages = messages
        self.sent: list[MutableMapping[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        while True:
            if self.messages and self.messages[0] is not None:
                return self.messages.pop(0)  # type: ignore[return-value]
            if self.messages:
                self.messages.pop(0)
            await _Yield()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(k.decode(), v.decode()) for k, v in self.sent[0]["headers"]]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def http_scope(
    method: str = "GET",
    query: str = "EIO=4&transport=polling",
    headers: list[tuple[str, str]] | None = None,
    *,
    path: str = "/socket.io/",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "scheme": "http",
        "path": path,
        "query_string": query.encode(),
        "headers": [
            (k.lower().encode(), v.encode()) for k, v in (headers or [("Host", "example.com")])
        ],
        "client": ("10.0.0.1", 50000),
        **fields,
    }


def request(
    app: App,
    scope: dict[str, Any],
    messages: list[dict[str, Any] | None] | None = None,
) -> Exchange:
    """Run one request through the app until it has answered (or waits)."""
    exchange = Exchange(
        [{"type": "http.request", "body": b""}] if messages is None else list(messages)
    )
    app.server._spawn(app(scope, exchange.receive, exchange.send))
    app.server.settle()
    return exchange


def open_session(app: App, headers: list[tuple[str, str]] | None = None) -> str:
    """A long-polling handshake; the session id."""
    answer = request(app, http_scope(headers=headers))
    assert answer.status == 200, answer.body
    return str(json.loads(answer.body[1:])["sid"])


JSON = ("content-type", "application/json")


def forbidden(message: str) -> bytes:
    return json.dumps({"code": 4, "message": message}).encode()


# -- mounting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "root_path", "routed"),
    [
        ("/socket.io/", None, "/socket.io/"),
        ("/socket.io/", "", "/socket.io/"),
        # Starlette's Mount and uvicorn's --root-path: the whole path, and the prefix.
        ("/ws/socket.io/", "/ws", "/socket.io/"),
        ("/ws", "/ws", ""),
        ("/api/v1/socket.io/", "/api/v1", "/socket.io/"),
        # Older frameworks strip the prefix from the path themselves.
        ("/socket.io/", "/ws", "/socket.io/"),
        # A prefix that is only the beginning of the path's first segment is no prefix.
        ("/socket.io/", "/socket", "/socket.io/"),
        ("/socket/socket.io/", "/socket", "/socket.io/"),
        ("/wsx/socket.io/", "/ws", "/wsx/socket.io/"),
    ],
)
def test_the_path_below_the_mount_point(path: str, root_path: str | None, routed: str) -> None:
    scope: dict[str, Any] = {"path": path}
    if root_path is not None:
        scope["root_path"] = root_path
    assert _route_path(scope) == routed
    assert _route_path({}) == ""


@pytest.mark.parametrize(
    ("path", "root_path"),
    [("/ws/socket.io/", "/ws"), ("/socket.io/", "/ws"), ("/ws/socket.io", "/ws")],
)
def test_a_mounted_app_serves_its_prefix(path: str, root_path: str) -> None:
    app = App(Driver())
    answer = request(app, http_scope(path=path, root_path=root_path))
    assert answer.status == 200 and answer.body.startswith(b"0{")
    assert app.lazy_starts == 1  # no lifespan ran: the binding starts the server itself
    request(app, http_scope(path=path, root_path=root_path))
    assert app.lazy_starts == 1
    assert app.server._connections == 0


def test_what_is_not_below_the_prefix_is_not_served() -> None:
    app = App(Driver())
    answer = request(app, http_scope(path="/ws/other", root_path="/ws"))
    assert (answer.status, answer.body) == (404, b"Not Found")
    assert app.lazy_starts == 0


# -- origins over long-polling -------------------------------------------------------------------


def test_a_request_without_origin_is_allowed_and_gets_no_cors_headers() -> None:
    app = App(Driver())
    answer = request(app, http_scope())
    assert answer.status == 200
    assert not any(name.lower().startswith("access-control") for name, _ in answer.headers)


def test_a_foreign_origin_is_refused_by_default(caplog: pytest.LogCaptureFixture) -> None:
    app = App(Driver())
    headers = [("Host", "example.com"), ("Origin", "https://evil.example")]
    with caplog.at_level(logging.WARNING, logger="sansio_rooms"):
        answer = request(app, http_scope(headers=headers))
        again = request(app, http_scope(headers=headers))
    for refused in (answer, again):
        assert refused.status == 403 and refused.body == forbidden("Origin not allowed")
        assert refused.headers == [JSON, ("content-length", str(len(refused.body)))]
    assert len(app.server.engineio) == 0  # no session was opened
    warnings = [r for r in caplog.records if "is not allowed" in r.getMessage()]
    assert len(warnings) == 1 and "'https://evil.example'" in warnings[0].getMessage()


def test_the_same_origin_is_allowed_with_cors_headers() -> None:
    app = App(Driver())
    headers = [("Host", "example.com"), ("Origin", "http://example.com")]
    answer = request(app, http_scope(headers=headers))
    assert answer.status == 200
    assert answer.headers[-4:] == [
        ("Access-Control-Allow-Origin", "http://example.com"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
        ("content-length", str(len(answer.body))),
    ]


def test_an_allowed_origin_gets_cors_headers_on_every_request_of_its_session() -> None:
    app = App(Driver(cors_allowed_origins=["https://app.example"], cors_credentials=False))
    origin = [("Host", "example.com"), ("Origin", "https://app.example")]
    sid = open_session(app, origin)
    post = request(
        app,
        http_scope("POST", f"EIO=4&transport=polling&sid={sid}", origin),
        [{"type": "http.request", "body": b"40"}],
    )
    assert (post.status, post.body) == (200, b"ok")
    assert ("Access-Control-Allow-Origin", "https://app.example") in post.headers
    assert not any(name == "Access-Control-Allow-Credentials" for name, _ in post.headers)
    # A request of the session from another origin is refused too.
    evil = [("Host", "example.com"), ("Origin", "https://evil.example")]
    get = request(app, http_scope("GET", f"EIO=4&transport=polling&sid={sid}", evil))
    assert (get.status, get.body) == (403, forbidden("Origin not allowed"))


def test_the_origin_function_and_any_origin() -> None:
    app = App(Driver(cors_allowed_origins=lambda origin: origin.endswith(".good.example")))
    good = [("Host", "example.com"), ("Origin", "https://a.good.example")]
    bad = [("Host", "example.com"), ("Origin", "https://bad.example")]
    assert request(app, http_scope(headers=good)).status == 200
    assert request(app, http_scope(headers=bad)).status == 403
    anyone = App(Driver(cors_allowed_origins="*"))
    assert request(anyone, http_scope(headers=bad)).status == 200


def test_a_preflight_is_answered_without_a_session() -> None:
    calls: list[HandshakeRequest] = []
    app = App(Driver(cors_allowed_origins="https://app.example", allow_request=calls.append))
    headers = [
        ("Host", "example.com"),
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type, x-token"),
    ]
    answer = request(app, http_scope("OPTIONS", headers=headers), [])
    assert (answer.status, answer.body) == (204, b"")
    assert answer.headers == [
        ("Access-Control-Allow-Origin", "https://app.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "content-type, x-token"),
        ("Access-Control-Max-Age", "86400"),
        ("content-length", "0"),
    ]
    assert calls == [] and len(app.server.engineio) == 0  # allow_request: not for a preflight
    sid = open_session(app)
    preflight = request(app, http_scope("OPTIONS", f"EIO=4&transport=polling&sid={sid}", headers))
    assert preflight.status == 204
    assert len(calls) == 1  # the handshake only


def test_a_preflight_from_a_refused_origin() -> None:
    app = App(Driver())
    headers = [("Host", "example.com"), ("Origin", "https://evil.example")]
    answer = request(app, http_scope("OPTIONS", headers=headers), [])
    assert (answer.status, answer.body) == (403, forbidden("Origin not allowed"))


# -- allow_request -------------------------------------------------------------------------------


def test_allow_request_sees_the_request_that_opens_a_session() -> None:
    seen: list[HandshakeRequest] = []

    def allow(request: HandshakeRequest) -> None:  # None: allowed
        seen.append(request)

    driver = Driver(allow_request=allow, trusted_proxies=["10.0.0.0/8"])
    app = App(driver)
    headers = [("Host", "example.com"), ("Cookie", "user=ann"), ("X-Forwarded-For", "1.2.3.4")]
    sid = open_session(app, headers)
    (opening,) = seen
    assert opening.method == "GET" and opening.path == "/socket.io/"
    assert opening.url == "/socket.io/?EIO=4&transport=polling"
    assert opening.cookies == {"user": "ann"} and opening.address == "1.2.3.4"
    # The session's other requests do not open one: not asked again.
    connect = http_scope("POST", f"EIO=4&transport=polling&sid={sid}")
    assert request(app, connect, [{"type": "http.request", "body": b"40"}]).status == 200
    assert len(seen) == 1
    # The socket's handshake is made of the request that opened the session.
    (socket,) = driver._sockets.values()
    assert socket.handshake.cookies == {"user": "ann"}
    assert socket.handshake.address == "1.2.3.4"
    assert socket.handshake.client == ("10.0.0.1", 50000)


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (True, 200, None),
        (None, 200, None),
        (0, 200, None),  # only False refuses
        (False, 403, forbidden("Forbidden")),
        (ConnectionRefusedError("banned"), 403, forbidden("banned")),
        (ConnectionRefusedError(), 403, forbidden("Not authorized")),
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True])
def test_allow_request_answers(
    answer: Any, status: int, body: bytes | None, asynchronous: bool
) -> None:
    def decide(request: HandshakeRequest) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def decide_later(request: HandshakeRequest) -> Any:
        await _Yield()
        return decide(request)

    app = App(Driver(allow_request=decide_later if asynchronous else decide))
    exchange = request(app, http_scope())
    assert exchange.status == status
    if body is not None:
        assert exchange.body == body and (JSON in exchange.headers)
        assert len(app.server.engineio) == 0


def test_allow_request_failing_refuses_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: HandshakeRequest) -> bool:
        raise KeyError("bug")

    app = App(Driver(allow_request=broken))
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        answer = request(app, http_scope())
    assert (answer.status, answer.body) == (403, forbidden("Forbidden"))
    (record,) = caplog.records
    assert record.getMessage() == "allow_request failed: the request is refused"
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_allow_request_must_be_callable() -> None:
    with pytest.raises(LocalProtocolError) as raised:
        Driver(allow_request="yes")
    assert str(raised.value) == "allow_request must be callable, not 'yes'"


# -- the request body and a parked GET -----------------------------------------------------------


def test_a_body_past_the_limit_is_not_read_further() -> None:
    app = App(Driver(max_payload=10))
    sid = open_session(app)
    chunks: list[dict[str, Any] | None] = [
        {"type": "http.request", "body": b"40" + b"x" * 9, "more_body": True},
        {"type": "http.request", "body": b"never read", "more_body": False},
    ]
    answer = request(app, http_scope("POST", f"EIO=4&transport=polling&sid={sid}"), chunks)
    assert answer.status == 413
    assert len(answer.messages) == 1  # the second chunk was left unread


def test_a_body_in_chunks() -> None:
    driver = Driver()
    app = App(driver)
    sid = open_session(app)
    chunks: list[dict[str, Any] | None] = [
        {"type": "http.request", "body": b"4", "more_body": True},
        None,  # the next chunk takes a while
        {"type": "http.request", "body": b"0"},
    ]
    exchange = request(app, http_scope("POST", f"EIO=4&transport=polling&sid={sid}"), chunks)
    assert (exchange.status, exchange.body) == (200, b"ok")
    assert len(driver._sockets) == 1  # the CONNECT was read whole


def test_a_client_that_goes_away_while_sending_its_body() -> None:
    app = App(Driver())
    sid = open_session(app)
    chunks: list[dict[str, Any] | None] = [
        {"type": "http.request", "body": b"4", "more_body": True},
        {"type": "http.disconnect"},
    ]
    exchange = request(app, http_scope("POST", f"EIO=4&transport=polling&sid={sid}"), chunks)
    assert exchange.sent == [] and len(app.pending) == 1  # the machine never saw it


def test_a_parked_get_answered_later_and_one_whose_client_went_away() -> None:
    driver = Driver()
    app = App(driver)
    sid = open_session(app)
    poll = http_scope("GET", f"EIO=4&transport=polling&sid={sid}")
    parked = request(app, poll, [{"type": "http.request", "body": b""}, None, None])
    assert parked.sent == []  # parked: nothing to send yet
    driver.advance(25.0)  # the session's ping answers it
    assert parked.status == 200 and parked.body == b"2"
    gone = request(app, poll, [{"type": "http.request", "body": b""}, None])
    assert gone.sent == [] and app.server._connections == 1
    gone.messages.append({"type": "http.disconnect"})
    driver.settle()
    assert gone.sent == []  # the client went away first: nothing is sent
    assert app.server._connections == 0
    # The machine was told: the session ends with the poll (as in Node).
    after = request(app, poll)
    assert (after.status, after.body) == (400, b'{"code":1,"message":"Session ID unknown"}')


# -- WebSocket -----------------------------------------------------------------------------------


def websocket_scope(query: str = "EIO=4&transport=websocket", **headers: str) -> dict[str, Any]:
    scope = http_scope(query=query, headers=[("Host", "example.com"), *headers.items()])
    scope["type"] = "websocket"
    scope["scheme"] = "ws"
    del scope["method"]
    return scope


def test_a_websocket_that_opens_a_session() -> None:
    seen: list[HandshakeRequest] = []
    app = App(Driver(allow_request=seen.append))
    scope = websocket_scope(Cookie="a=1")
    app.server.start(app(scope, Exchange([]).receive, Exchange([]).send))
    ((query, opening, refusal),) = app.websockets
    assert query == {"EIO": "4", "transport": "websocket"}
    assert refusal is None and seen == [opening]
    assert opening.cookies == {"a": "1"} and opening.scope is scope


def test_a_websocket_upgrading_a_session_is_not_asked_for() -> None:
    seen: list[HandshakeRequest] = []
    app = App(Driver(allow_request=seen.append, cors_allowed_origins="https://app.example"))
    scope = websocket_scope("EIO=4&transport=websocket&sid=abc", Origin="https://app.example")
    app.server.start(app(scope, Exchange([]).receive, Exchange([]).send))
    ((query, opening, refusal),) = app.websockets
    assert query["sid"] == "abc" and opening is None and refusal is None and seen == []


def test_websockets_refused_for_their_origin_or_by_allow_request() -> None:
    app = App(Driver(allow_request=lambda request: request.cookies.get("user") == "ann"))
    for scope, body in [
        (websocket_scope(Origin="https://evil.example"), forbidden("Origin not allowed")),
        (
            websocket_scope("EIO=4&transport=websocket&sid=x", Origin="https://evil.example"),
            forbidden("Origin not allowed"),
        ),
        (websocket_scope(Cookie="user=bob"), forbidden("Forbidden")),
        (websocket_scope(Cookie="user=ann"), None),
    ]:
        app.server.start(app(scope, Exchange([]).receive, Exchange([]).send))
        assert app.websockets[-1][2] == body


# -- the other app's lifespan --------------------------------------------------------------------


class Lifespans:
    """Runs an OtherLifespan on a hand-driven server."""

    def __init__(self, app: Any) -> None:
        self.driver = Driver()
        self.other = OtherLifespan(app, {"type": "lifespan"}, self.driver._new_waiter)
        self.running = self.driver.start(self.other.run())

    def startup(self) -> Any:
        return self.driver.start(self.other.startup())

    def shutdown(self) -> Any:
        return self.driver.start(self.other.shutdown())


def test_the_other_apps_lifespan_runs_beside_the_servers() -> None:
    events: list[str] = []

    async def other_app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        events.append((await receive())["type"])
        await send({"type": "lifespan.startup.complete"})
        events.append((await receive())["type"])
        await send({"type": "lifespan.shutdown.complete"})
        await send({"type": "something.extra"})  # past both answers: ignored

    lifespans = Lifespans(other_app)
    assert lifespans.startup()() is None
    assert events == ["lifespan.startup"]
    lifespans.driver.settle()
    assert events == ["lifespan.startup"]  # it waits for the shutdown
    assert lifespans.shutdown()() is None
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert lifespans.running() is None and lifespans.other.supported


def test_an_app_without_lifespans_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "no lifespan here"

    with caplog.at_level(logging.INFO, logger="sansio_rooms"):
        lifespans = Lifespans(http_only)
        assert lifespans.startup()() is None  # the server starts anyway
        assert lifespans.shutdown()() is None  # and nothing is waited for
    assert not lifespans.other.supported
    assert [r.getMessage() for r in caplog.records] == [
        "the other app does not support the ASGI lifespan: left alone"
    ]
    assert caplog.records[0].levelno == logging.INFO


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"type": "lifespan.startup.failed", "message": "no database"}, "no database"),
        ({"type": "lifespan.startup.failed"}, "the other app's startup failed"),
        ({"type": "lifespan.startup.failed", "message": ""}, "the other app's startup failed"),
    ],
)
def test_the_other_apps_startup_failed(answer: dict[str, Any], message: str) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(answer)

    lifespans = Lifespans(failing)
    with pytest.raises(RuntimeError) as raised:
        lifespans.startup()()
    assert str(raised.value) == message


def test_the_other_apps_startup_failed_starlette_style(caplog: pytest.LogCaptureFixture) -> None:
    async def starlette(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "boom"})
        raise RuntimeError("boom")  # Starlette answers, then raises

    lifespans = Lifespans(starlette)
    with (
        caplog.at_level(logging.ERROR, logger="sansio_rooms"),
        pytest.raises(RuntimeError, match=r"^boom$"),
    ):
        lifespans.startup()()
    assert [r.getMessage() for r in caplog.records] == ["the other app's lifespan failed"]


def test_the_other_apps_shutdown_failed(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "disk full"})

    lifespans = Lifespans(failing)
    lifespans.startup()()
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        assert lifespans.shutdown()() is None  # logged, not raised: ours is done by then
    assert [r.getMessage() for r in caplog.records] == [
        "the other app's shutdown failed: disk full"
    ]


def test_the_other_app_failing_after_its_startup(caplog: pytest.LogCaptureFixture) -> None:
    gate = Waiter()

    async def crashing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await gate.wait()
        raise RuntimeError("background task died")

    lifespans = Lifespans(crashing)
    assert lifespans.startup()() is None
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        gate.set(True)
        lifespans.driver.settle()
    assert [r.getMessage() for r in caplog.records] == ["the other app's lifespan failed"]
    assert caplog.records[0].exc_info is not None
    assert not lifespans.other.supported
    assert lifespans.shutdown()() is None  # nothing left to shut down


def test_the_other_app_ending_its_lifespan_early() -> None:
    async def brief(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})  # and returns: no shutdown to wait

    lifespans = Lifespans(brief)
    assert lifespans.startup()() is None
    assert lifespans.shutdown()() is None and lifespans.other.supported


def test_the_other_lifespan_is_made_for_the_other_app_only() -> None:
    async def other_app(scope: Any, receive: Any, send: Any) -> None: ...

    scope = {"type": "lifespan"}
    assert App(Driver())._other_lifespan(scope) is None
    other = App(Driver(), other_app)._other_lifespan(scope)
    assert isinstance(other, OtherLifespan) and other.app is other_app and other.scope is scope


# -- options -------------------------------------------------------------------------------------


def test_an_unknown_option_is_named_with_what_the_server_takes() -> None:
    with pytest.raises(TypeError) as raised:
        Driver(ping_intervall=5, max_buffer=8, colour="blue")
    message = str(raised.value)
    assert message.startswith(
        "Driver() got unknown option(s) 'ping_intervall', 'colour'; it takes: "
    )
    accepted = message.split("it takes: ")[1].split(", ")
    assert accepted == sorted(accepted)
    for option in (
        "adapter",
        "allow_request",
        "cleanup_empty_child_namespaces",
        "connect_timeout",
        "cors_allowed_origins",
        "cors_credentials",
        "max_attachments",
        "max_buffer",
        "max_payload",
        "ping_interval",
        "transports",
        "trusted_proxies",
        "engine",  # documented (docs/asyncio.md): a RoomEngine of your own
    ):
        assert option in accepted


def test_a_known_option_with_a_bad_value_keeps_the_machines_message() -> None:
    with pytest.raises(TypeError) as raised:
        Driver(transports=5)
    assert str(raised.value) == "Driver: 'int' object is not iterable"


class EioDriver(HandDriven, EngineIODriver):
    """An Engine.IO-only server, by hand."""

    def _new_waiter(self) -> Waiter:
        return Waiter()


def test_an_engineio_session_has_the_request_that_opened_it() -> None:
    driver = EioDriver(cors_allowed_origins="*", trusted_proxies="*")
    assert driver.origins.any and driver.trusted_proxies.any
    app = App(driver)
    sessions: list[Any] = []
    driver.on("connect")(sessions.append)
    headers = [("Host", "example.com"), ("Cookie", "a=1"), ("X-Forwarded-For", "9.9.9.9")]
    answer = request(app, http_scope(headers=headers, path="/engine.io/"))
    assert answer.status == 200
    (session,) = sessions
    assert session.request.cookies == {"a": "1"} and session.request.address == "9.9.9.9"


def test_socket_type_is_what_handlers_get() -> None:
    # The class a handler receives (its handshake being tested above) is the public Socket.
    driver = Driver()
    app = App(driver)
    sid = open_session(app)
    request(
        app,
        http_scope("POST", f"EIO=4&transport=polling&sid={sid}"),
        [{"type": "http.request", "body": b"40"}],
    )
    assert all(isinstance(socket, Socket) for socket in driver._sockets.values())


# -- what the bindings' own servers share ---------------------------------------------------------


def test_a_long_poll_of_an_open_session_goes_straight_to_the_machine() -> None:
    """``_poll_directly``: the request is given to the machine with a handle of the server's
    making, and the CORS headers of its origin; anything else is left to the app."""
    app = App(Driver(cors_allowed_origins=["https://app.example"]))
    sid = open_session(app)
    made: list[Any] = []

    def handle_for(cors: list[tuple[bytes, bytes]]) -> Pending:
        made.append(cors)
        return Pending()

    origin = [("Host", "example.com"), ("Origin", "https://app.example")]
    query = f"EIO=4&transport=polling&sid={sid}"
    posted = [*origin, ("Content-Type", "text/plain;charset=UTF-8")]
    post = app._poll_directly(http_scope("POST", query, posted), b"3", handle_for)
    assert post.response.status == 200 and post.response.body == b"ok"
    assert made == [
        [
            (b"Access-Control-Allow-Origin", b"https://app.example"),
            (b"Vary", b"Origin"),
            (b"Access-Control-Allow-Credentials", b"true"),
        ]
    ]
    get = app._poll_directly(http_scope("GET", query), b"", handle_for)
    assert get.response is None  # parked: answered when there is something to send
    assert made[-1] == []  # no Origin, no CORS headers

    refused = [("Host", "example.com"), ("Origin", "https://evil.example")]
    for scope in (
        http_scope("GET", "EIO=4&transport=polling"),  # a handshake: allow_request, async
        http_scope("OPTIONS", query, origin),  # a preflight
        http_scope("GET", query, path="/elsewhere"),
        http_scope("GET", query, refused),  # refused, and logged, by the app
    ):
        assert app._poll_directly(scope, b"", handle_for) is None
    assert len(made) == 2


def test_a_response_gathered_from_asgi_messages() -> None:
    response = GatheredResponse()
    run_sync(response.send({"type": "http.response.body", "body": b"early"}))  # ignored
    run_sync(response.send({"type": "http.response.start", "status": 201,
                            "headers": [(b"x-a", b"1")]}))  # fmt: skip
    run_sync(response.send({"type": "http.response.start", "status": 500}))  # ignored
    run_sync(response.send({"type": "http.response.body", "body": b"a", "more_body": True}))
    run_sync(response.send({"type": "http.response.body", "body": b"b"}))
    run_sync(response.send({"type": "http.response.body", "body": b"late"}))  # ignored
    assert response.finish({"method": "GET", "path": "/"}) == (201, [(b"x-a", b"1")], b"ab")


def test_an_incomplete_response_is_a_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    for messages in ([], [{"type": "http.response.start", "status": 200}]):
        response = GatheredResponse()
        for message in messages:
            run_sync(response.send(message))
        with caplog.at_level(logging.ERROR, logger="sansio_rooms.asgi"):
            status, _, body = response.finish({"method": "GET", "path": "/x"})
        assert (status, body) == (500, b"Internal Server Error")
    assert caplog.text.count("without a whole response to GET /x") == 2


@pytest.mark.parametrize(
    ("value", "address"),
    [
        (("10.0.0.1", 5000), ("10.0.0.1", 5000)),
        (("::1", 80, 0, 0), ("::1", 80)),
        ("/tmp/socket", None),
        (None, None),
    ],
)
def test_peer_addresses_as_asgi_gives_them(value: Any, address: Any) -> None:
    assert peer_address(value) == address


def test_response_headers_are_encoded_once() -> None:
    headers = (("content-type", "text/plain; charset=UTF-8"), ("cache-control", "no-store"))
    encoded = encoded_headers(headers)
    assert encoded == ((b"content-type", b"text/plain; charset=UTF-8"),
                       (b"cache-control", b"no-store"))  # fmt: skip
    assert encoded_headers(headers) is encoded


def run_sync(awaitable: Any) -> None:
    """Run a coroutine that never suspends (GatheredResponse.send)."""
    try:
        awaitable.send(None)
    except StopIteration:
        return
    raise AssertionError("suspended")
