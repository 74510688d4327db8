"""What a client's HTTP request says about it (headers, cookies, its address behind trusted
proxies, TLS, the URL), whether its origin may connect, and the handshake a socket gets."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import attrs
import pytest

from sansio_rooms import (
    Handshake,
    HandshakeRequest,
    LocalProtocolError,
    OriginPolicy,
    TrustedProxies,
    parse_cookies,
    request_from_scope,
)

from ._memory_driver import WALL_TIME, Client, Driver

# -- cookies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "cookies"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1;b=2;  c = 3 ", {"a": "1", "b": "2", "c": "3"}),
        ('token="abc def"', {"token": "abc def"}),  # a quoted value is unquoted
        ('q=""', {"q": ""}),
        ('q="', {"q": '"'}),  # one quote alone is not a quoted value
        ("a=1; a=2", {"a": "1"}),  # the first of a repeated name is kept
        ("a=x=y", {"a": "x=y"}),  # the value runs to the ';'
        ("a=", {"a": ""}),
        ("novalue; =nameless; ;; b=2", {"b": "2"}),  # malformed pairs are skipped
        (" ; ", {}),
    ],
)
def test_parse_cookies(header: str, cookies: dict[str, str]) -> None:
    assert parse_cookies(header) == cookies


# -- trusted proxies -----------------------------------------------------------------------------


def test_no_trusted_proxy_by_default() -> None:
    proxies = TrustedProxies()
    assert not proxies and not proxies.any
    assert not proxies.trusts("127.0.0.1") and not proxies.trusts(None)
    assert proxies.client_of("10.0.0.1", "1.2.3.4") == "10.0.0.1"


def test_trusted_proxies_by_address_network_or_any() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "::1", "192.168.1.1"])
    assert proxies and not proxies.any
    assert proxies.trusts("10.20.30.40") and proxies.trusts("::1")
    assert proxies.trusts("192.168.1.1") and not proxies.trusts("192.168.1.2")
    assert not proxies.trusts(None)
    assert not proxies.trusts("not an address") and not proxies.trusts("unix:/run/x.sock")
    one = TrustedProxies("127.0.0.1")  # a single str is one proxy, not its characters
    assert one.trusts("127.0.0.1") and not one.trusts("127.0.0.2")
    anyone = TrustedProxies("*")
    assert anyone.any and anyone and anyone.trusts(None) and anyone.trusts("8.8.8.8")
    mixed = TrustedProxies(["*", "10.0.0.1"])
    assert mixed.any and mixed.trusts("1.1.1.1")


@pytest.mark.parametrize("entry", ["not-an-ip", "10.0.0.0/99", "", None, 1.5])
def test_trusted_proxies_refuse_what_is_not_an_address(entry: Any) -> None:
    with pytest.raises(LocalProtocolError) as raised:
        TrustedProxies(["127.0.0.1", entry])
    assert str(raised.value) == (
        f"trusted_proxies takes IP addresses, networks or '*', not {entry!r}"
    )


@pytest.mark.parametrize("entry", [42, b"\x7f\x00\x00\x01"])
def test_trusted_proxies_refuse_what_is_not_a_string(entry: Any) -> None:
    # ipaddress takes an int or 4 packed bytes as an address: 42 would mean 0.0.0.42.
    with pytest.raises(LocalProtocolError):
        TrustedProxies([entry])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # The peer is a trusted proxy: walk X-Forwarded-For from the right.
        ("10.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "1.2.3.4, 10.0.0.2", "1.2.3.4"),  # a trusted hop is skipped
        ("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"),  # the rightmost untrusted
        ("10.0.0.1", " 1.2.3.4 ,, 10.0.0.2 ", "1.2.3.4"),  # blanks and empties ignored
        ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all trusted: the leftmost
        ("10.0.0.1", "", "10.0.0.1"),  # nothing forwarded: the peer
        ("10.0.0.1", " , ", "10.0.0.1"),
        ("10.0.0.1", "unknown, 10.0.0.2", "unknown"),  # not an address: not a proxy
        ("10.0.0.1", None, "10.0.0.1"),
        # An untrusted peer's X-Forwarded-For is not believed.
        ("8.8.8.8", "1.2.3.4", "8.8.8.8"),
        (None, "1.2.3.4", None),
    ],
)
def test_the_client_behind_trusted_proxies(
    peer: str | None, forwarded_for: str | None, client: str | None
) -> None:
    assert TrustedProxies(["10.0.0.0/8"]).client_of(peer, forwarded_for) == client


def test_any_proxy_trusted_believes_every_hop() -> None:
    proxies = TrustedProxies("*")
    assert proxies.client_of("8.8.8.8", "1.2.3.4, 5.6.7.8") == "1.2.3.4"
    assert proxies.client_of(None, "1.2.3.4") == "1.2.3.4"


# -- reading an ASGI scope -----------------------------------------------------------------------


def scope(
    headers: Iterable[tuple[str, str]] = (),
    *,
    client: Any = ("10.0.0.1", 51000),
    **fields: Any,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/socket.io/",
        "query_string": b"EIO=4&transport=polling",
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": client,
    }
    result.update(fields)
    return result


def test_a_request_read_from_its_scope() -> None:
    asgi = scope(
        [
            ("Host", "example.com"),
            ("Cookie", "a=1"),
            ("Accept", "text/html"),
            ("cookie", "b=2; a=3"),  # cookies of two headers are one list, the first a wins
            ("ACCEPT", "application/json"),
            ("Origin", "https://app.example.com"),
            ("X-Forwarded-For", "1.2.3.4"),  # not believed: no trusted proxy
        ],
        raw_path=b"/socket.io/%7Ex",
        path="/socket.io/~x",
        query_string=b"EIO=4&transport=polling&name=J%C3%B6",
    )
    request = request_from_scope(asgi, TrustedProxies())
    assert request == HandshakeRequest(
        method="GET",
        path="/socket.io/~x",
        url="/socket.io/%7Ex?EIO=4&transport=polling&name=J%C3%B6",  # as the client sent it
        query={"EIO": "4", "transport": "polling", "name": "Jö"},
        headers={
            "host": "example.com",
            "cookie": "a=1; b=2; a=3",
            "accept": "text/html, application/json",
            "origin": "https://app.example.com",
            "x-forwarded-for": "1.2.3.4",
        },
        cookies={"a": "1", "b": "2"},
        address="10.0.0.1",
        client=("10.0.0.1", 51000),
        host="example.com",
        secure=False,
        xdomain=True,
        scope=asgi,
    )
    assert request.scope is asgi
    assert "scope" not in repr(request)


def test_a_request_with_little_in_its_scope() -> None:
    request = request_from_scope({"type": "websocket", "query_string": "a=1"}, TrustedProxies())
    assert (request.method, request.path, request.url) == ("GET", "/", "/?a=1")
    assert request.query == {"a": "1"} and request.headers == {} and request.cookies == {}
    assert request.address is None and request.client is None and request.host is None
    assert not request.secure and not request.xdomain
    bare = request_from_scope({"type": "http", "headers": None}, TrustedProxies())
    assert bare.url == "/" and bare.query == {}


def test_the_query_parsed_by_the_caller_is_used() -> None:
    query = {"EIO": "4"}
    request = request_from_scope(scope(), TrustedProxies(), query)
    assert request.query is query


@pytest.mark.parametrize(
    ("fields", "secure"),
    [
        ({"scheme": "https"}, True),
        ({"scheme": "http"}, False),
        ({"type": "websocket", "scheme": "wss"}, True),
        ({"type": "websocket", "scheme": "ws"}, False),
        ({"type": "websocket", "scheme": None}, False),  # ws, by default
    ],
)
def test_secure_over_tls(fields: dict[str, Any], secure: bool) -> None:
    assert request_from_scope(scope(**fields), TrustedProxies()).secure is secure


FORWARDED = [
    ("Host", "internal:8000"),
    ("X-Forwarded-For", "1.2.3.4, 10.0.0.2"),
    ("X-Forwarded-Proto", "http, HTTPS"),  # the nearest proxy's is the last
    ("X-Forwarded-Host", "evil.example, example.com"),
]


def test_forwarded_headers_of_a_trusted_proxy_are_believed() -> None:
    request = request_from_scope(scope(FORWARDED), TrustedProxies("10.0.0.0/8"))
    assert request.address == "1.2.3.4"
    assert request.client == ("10.0.0.1", 51000)  # the ASGI server's, as it gave it
    assert request.secure and request.host == "example.com"


def test_forwarded_headers_of_an_untrusted_peer_are_not() -> None:
    for proxies in (TrustedProxies(), TrustedProxies("192.168.0.0/16")):
        request = request_from_scope(scope(FORWARDED, scheme="http"), proxies)
        assert request.address == "10.0.0.1"
        assert not request.secure and request.host == "internal:8000"


def test_a_trusted_proxy_may_say_plain_http_over_tls() -> None:
    headers = [("Host", "example.com"), ("X-Forwarded-Proto", "http")]
    request = request_from_scope(scope(headers, scheme="https"), TrustedProxies("*"))
    assert not request.secure
    blank = [("X-Forwarded-Proto", " "), ("X-Forwarded-Host", "")]
    request = request_from_scope(scope(blank, scheme="https"), TrustedProxies("*"))
    assert request.secure and request.host is None  # empty headers change nothing


def test_a_trusted_proxy_forwarding_wss() -> None:
    headers = [("X-Forwarded-Proto", "WSS")]
    request = request_from_scope(scope(headers, type="websocket", scheme="ws"), TrustedProxies("*"))
    assert request.secure


# -- origins -------------------------------------------------------------------------------------


def request_for(
    host: str | None = "example.com",
    *,
    secure: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    all_headers = {} if host is None else {"host": host}
    all_headers.update(headers or {})
    return HandshakeRequest(host=host, secure=secure, headers=all_headers)


def test_the_default_policy_allows_the_same_origin_only(caplog: pytest.LogCaptureFixture) -> None:
    policy = OriginPolicy()
    request = request_for("Example.com:8000")
    assert policy.allows(None, request)  # no Origin: not a browser page
    assert policy.allows("http://example.com:8000", request)
    assert policy.allows("HTTP://EXAMPLE.COM:8000/", request)  # case and a trailing / ignored
    with caplog.at_level(logging.WARNING, logger="sansio_rooms"):
        assert not policy.allows("https://example.com:8000", request)  # another scheme
        assert not policy.allows("http://example.com", request)  # another port
        assert not policy.allows("http://evil.example", request)
        assert not policy.allows("http://evil.example", request)
    refusals = [r for r in caplog.records if r.name.startswith("sansio_rooms")]
    assert [r.getMessage() for r in refusals] == [
        f"origin {origin!r} is not allowed (cors_allowed_origins): refused; this is logged "
        "once per origin"
        for origin in ("https://example.com:8000", "http://example.com", "http://evil.example")
    ]
    assert all(r.levelno == logging.WARNING for r in refusals)


def test_the_same_origin_over_tls() -> None:
    policy = OriginPolicy()
    assert policy.allows("https://example.com", request_for(secure=True))
    assert not policy.allows("http://example.com", request_for(secure=True))
    assert not policy.allows("http://example.com", request_for(None))  # no Host: no own origin


def test_the_refusals_logged_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    policy = OriginPolicy([])
    with caplog.at_level(logging.WARNING, logger="sansio_rooms"):
        for number in range(1005):
            assert not policy.allows(f"http://site{number}.example", request_for())
    assert len(caplog.records) == 1000  # a flood of origins does not grow the memory


def test_any_origin() -> None:
    policy = OriginPolicy("*")
    assert policy.any and policy.allows("http://anything.example", request_for())


def test_one_origin_or_a_list() -> None:
    one = OriginPolicy("https://App.example.com/")
    assert one.allows("https://app.example.com", request_for())
    assert not one.allows("https://other.example.com", request_for())
    assert one.allows("http://example.com", request_for())  # the same origin, always
    listed = OriginPolicy(("https://a.example", "https://B.example"))
    assert listed.allows("https://b.example/", request_for())
    assert not listed.allows("https://c.example", request_for())
    generated = OriginPolicy(f"https://{name}.example" for name in "ab")
    assert generated.allows("https://a.example", request_for())
    assert generated.allows("https://b.example", request_for())  # read once, kept whole


def test_a_function_decides(caplog: pytest.LogCaptureFixture) -> None:
    asked: list[str] = []

    def allowed(origin: str) -> bool:
        asked.append(origin)
        if origin == "https://broken.example":
            raise RuntimeError("the check failed")
        return origin.endswith(".trusted.example")

    policy = OriginPolicy(allowed)
    with caplog.at_level(logging.INFO, logger="sansio_rooms"):
        assert policy.allows("https://a.trusted.example", request_for())
        assert not policy.allows("https://other.example", request_for())
        assert policy.allows("http://example.com", request_for())  # same origin: not asked
        assert policy.allows(None, request_for())  # no Origin: not asked
        assert not policy.allows("https://broken.example", request_for())
    assert asked == ["https://a.trusted.example", "https://other.example", "https://broken.example"]
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert failed[0].getMessage() == (
        "cors_allowed_origins failed for origin 'https://broken.example': refused"
    )


@pytest.mark.parametrize("allowed", [[1, 2], ["https://a.example", None], b"https://a"])
def test_origins_of_the_wrong_type_are_refused(allowed: Any) -> None:
    with pytest.raises(LocalProtocolError) as raised:
        OriginPolicy(allowed)
    assert str(raised.value) == (
        "cors_allowed_origins takes None, '*', an origin, a list of origins or a function, "
        f"not {allowed!r}"
    )


@pytest.mark.parametrize("allowed", [5, 1.5, True])
def test_an_origin_rule_that_is_not_iterable_is_refused_the_same_way(allowed: Any) -> None:
    with pytest.raises(LocalProtocolError):
        OriginPolicy(allowed)


def test_cors_headers() -> None:
    policy = OriginPolicy("*")
    assert policy.credentials
    assert policy.headers(None) == []
    assert policy.headers("https://a.example") == [
        ("Access-Control-Allow-Origin", "https://a.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    without = OriginPolicy("*", credentials=False)
    assert without.headers("https://a.example") == [
        ("Access-Control-Allow-Origin", "https://a.example"),
        ("Vary", "Origin"),
    ]
    asked = request_for(headers={"access-control-request-headers": "x-token, content-type"})
    assert without.preflight_headers("https://a.example", asked) == [
        ("Access-Control-Allow-Origin", "https://a.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "x-token, content-type"),
        ("Access-Control-Max-Age", "86400"),
    ]
    assert ("Access-Control-Allow-Headers", "") not in policy.preflight_headers(
        "https://a.example", request_for()
    )


# -- the handshake of a socket -------------------------------------------------------------------


def test_the_handshake_of_a_request() -> None:
    asgi = scope(
        [("Host", "example.com"), ("Cookie", "sid=abc"), ("Origin", "http://example.com")],
        scheme="https",
        query_string=b"EIO=4&transport=websocket&room=7",
    )
    request = request_from_scope(asgi, TrustedProxies())
    handshake = Handshake.of(request, {"token": "t"}, WALL_TIME)
    assert handshake == Handshake(
        auth={"token": "t"},
        query={"EIO": "4", "transport": "websocket", "room": "7"},
        headers={"host": "example.com", "cookie": "sid=abc", "origin": "http://example.com"},
        cookies={"sid": "abc"},
        address="10.0.0.1",
        client=("10.0.0.1", 51000),
        url="/socket.io/?EIO=4&transport=websocket&room=7",
        issued=1_800_000_000_500,
        time="2027-01-15T08:00:00.500+00:00",
        secure=True,
        xdomain=True,
        scope=asgi,
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        handshake.auth = None  # type: ignore[misc]


def test_a_socket_gets_the_handshake_of_the_request_that_opened_its_connection() -> None:
    driver = Driver()
    seen: list[Handshake] = []

    def connect(socket: Any, auth: Any) -> None:
        seen.append(socket.handshake)

    driver.on("connect", connect)
    driver.on("connect", connect, namespace="/other")
    asgi = scope(
        [("Host", "example.com"), ("Cookie", "a=1"), ("X-Forwarded-For", "1.2.3.4")],
        type="websocket",
        scheme="wss",
        query_string=b"EIO=4&transport=websocket&v=1",
    )
    request = request_from_scope(asgi, TrustedProxies("10.0.0.1"))
    client = Client(driver, request)
    assert client.connect("/", {"k": "v"}).startswith("40{")
    (handshake,) = seen
    assert handshake.auth == {"k": "v"}
    assert handshake.address == "1.2.3.4" and handshake.client == ("10.0.0.1", 51000)
    assert handshake.cookies == {"a": "1"} and handshake.headers["host"] == "example.com"
    assert handshake.query == {"EIO": "4", "transport": "websocket", "v": "1"}
    assert handshake.url == "/socket.io/?EIO=4&transport=websocket&v=1"
    assert handshake.secure and not handshake.xdomain and handshake.scope is asgi
    assert (handshake.issued, handshake.time) == (
        1_800_000_000_500,
        "2027-01-15T08:00:00.500+00:00",
    )
    # A second namespace over the same connection: the same request.
    assert client.connect("/other").startswith("40/other,{")
    assert seen[1].headers == handshake.headers and seen[1].auth == {}


def test_a_connection_without_a_request_has_its_query_alone() -> None:
    driver = Driver()
    client = Client(driver)  # as server.attach() connects: no HTTP request
    client.connect()
    socket = driver.get_socket(client.sids["/"])
    assert socket is not None
    handshake = socket.handshake
    assert handshake.query == {"EIO": "4", "transport": "websocket"}
    assert handshake.headers == {} and handshake.cookies == {} and handshake.scope is None
    assert handshake.address is None and handshake.url == "/"
    assert handshake.issued == 1_800_000_000_500


def test_the_handshake_other_servers_see() -> None:
    # What fetch_sockets on another server of a cluster gets: Node's handshake fields.
    driver = Driver()
    asgi = scope(
        [("Host", "example.com"), ("Origin", "http://example.com")],
        type="websocket",
        scheme="wss",
        query_string=b"EIO=4&transport=websocket",
    )
    client = Client(driver, request_from_scope(asgi, TrustedProxies()))
    client.connect("/", {"token": "t"})
    socket = driver.get_socket(client.sids["/"])
    assert socket is not None
    socket.data["user"] = "ann"
    handshake, data = driver._describe_socket("/", client.sids["/"])
    assert handshake == {
        "headers": {"host": "example.com", "origin": "http://example.com"},
        "time": "2027-01-15T08:00:00.500+00:00",
        "address": "10.0.0.1",
        "xdomain": True,
        "secure": True,
        "issued": 1_800_000_000_500,
        "url": "/socket.io/?EIO=4&transport=websocket",
        "query": {"EIO": "4", "transport": "websocket"},
        "auth": {"token": "t"},
    }
    assert data == {"user": "ann"}
