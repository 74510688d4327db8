"""What a client's HTTP request says about it, and whether its origin may connect.

A browser page from another site can open a WebSocket to any server, with the user's cookies:
the server must check the ``Origin`` header itself (CORS does not cover WebSockets). This
module reads an ASGI request's scope once into a :class:`HandshakeRequest` (headers, cookies,
the client's address behind trusted proxies, the URL), and decides origins with an
:class:`OriginPolicy`, for long-polling and WebSocket alike. No I/O: the ASGI apps call it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ._app import parse_query
from ._errors import LocalProtocolError

__all__ = [
    "HandshakeRequest",
    "OriginPolicy",
    "TrustedProxies",
    "parse_cookies",
    "request_from_scope",
]

logger = logging.getLogger("sansio_rooms.asgi")

#: The Engine.IO error code of a refused request (``{"code": 4, "message": ...}``, HTTP 403).
FORBIDDEN = 4


@attrs.frozen(kw_only=True)
class HandshakeRequest:
    """The HTTP request that opens an Engine.IO session (what ``allow_request`` sees, and
    what ``socket.handshake`` is made of).

    ``headers`` have lower-case names (a repeated header's values joined with ``", "``,
    cookies with ``"; "``); ``address`` is the client's IP (behind ``trusted_proxies``, the
    one their ``X-Forwarded-For`` names); ``client`` is the ASGI server's ``(host, port)``;
    ``url`` the request target (path and query string); ``host`` the host the client asked
    for (``Host``, or a trusted proxy's ``X-Forwarded-Host``); ``secure`` is true over TLS;
    ``xdomain`` true when the request has an ``Origin`` header; ``scope`` is the ASGI scope.
    """

    method: str = "GET"
    path: str = "/"
    url: str = "/"
    query: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    cookies: Mapping[str, str] = attrs.field(factory=dict)
    address: str | None = None
    client: tuple[str, int] | None = None
    host: str | None = None
    secure: bool = False
    xdomain: bool = False
    scope: Mapping[str, Any] | None = attrs.field(default=None, repr=False)


def parse_cookies(header: str) -> dict[str, str]:
    """A ``Cookie`` header as a dict, leniently, as browsers send it and Node's ``cookie``
    package reads it: ``name=value`` pairs separated by ``;``, a quoted value unquoted, the
    first of a repeated name kept, malformed pairs skipped."""
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, value)
    return cookies


class TrustedProxies:
    """The proxies whose ``X-Forwarded-*`` headers are believed: addresses, networks
    (``"10.0.0.0/8"``), or ``"*"`` for any peer. Empty (the default): none, the ASGI
    server's ``client`` is the client (uvicorn and hypercorn can resolve proxies
    themselves)."""

    def __init__(self, proxies: Iterable[str] | str = ()) -> None:
        if isinstance(proxies, str):
            proxies = (proxies,)
        self.any = False
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for proxy in proxies:
            if not isinstance(proxy, str):
                raise LocalProtocolError(
                    f"trusted_proxies takes IP addresses, networks or '*', not {proxy!r}"
                )
            if proxy == "*":
                self.any = True
                continue
            try:
                self._networks.append(ipaddress.ip_network(proxy, strict=False))
            except (TypeError, ValueError):
                raise LocalProtocolError(
                    f"trusted_proxies takes IP addresses, networks or '*', not {proxy!r}"
                ) from None

    def __bool__(self) -> bool:
        return self.any or bool(self._networks)

    def trusts(self, address: str | None) -> bool:
        if self.any:
            return True
        if address is None or not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client_of(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: walking ``X-Forwarded-For`` from the right while the hop is
        a trusted proxy, the first one that is not (uvicorn's rule)."""
        if forwarded_for is None or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer


def _last(value: str | None) -> str | None:
    """The last of a comma-separated list of values (the one the nearest proxy added)."""
    if value is None:
        return None
    return value.rsplit(",", 1)[-1].strip() or None


def request_from_scope(
    scope: Mapping[str, Any], proxies: TrustedProxies, query: Mapping[str, str] | None = None
) -> HandshakeRequest:
    """Read an ASGI ``http`` or ``websocket`` scope."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            separator = "; " if name == "cookie" else ", "
            headers[name] = headers[name] + separator + value
        else:
            headers[name] = value
    client = scope.get("client")
    peer = None if client is None else str(client[0])
    trusted = bool(proxies) and proxies.trusts(peer)
    scheme = scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http")
    secure = scheme in ("https", "wss")
    host = headers.get("host")
    if trusted:
        forwarded_proto = _last(headers.get("x-forwarded-proto"))
        if forwarded_proto is not None:
            secure = forwarded_proto.lower() in ("https", "wss")
        host = _last(headers.get("x-forwarded-host")) or host
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    query_string = scope.get("query_string", b"")
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    return HandshakeRequest(
        method=scope.get("method", "GET"),
        path=scope.get("path", "/"),
        url=f"{path}?{query_string}" if query_string else path,
        query=parse_query(query_string) if query is None else query,
        headers=headers,
        cookies=parse_cookies(headers.get("cookie", "")),
        address=proxies.client_of(peer, headers.get("x-forwarded-for")) if trusted else peer,
        client=None if client is None else (str(client[0]), int(client[1])),
        host=host,
        secure=secure,
        xdomain="origin" in headers,
        scope=scope,
    )


OriginRule = str | Iterable[str] | Callable[[str], bool] | None


class OriginPolicy:
    """Which ``Origin`` may connect: ``None`` (the default) the same origin only, ``"*"``
    any, one origin or a list of them, or a function of the origin returning a bool. The
    same origin (``scheme://host`` of the request itself) is always allowed, and so is a
    request without ``Origin`` (not from a browser page). ``credentials``: the CORS answers
    allow cookies."""

    def __init__(self, allowed: OriginRule = None, *, credentials: bool = True) -> None:
        self.any = allowed == "*"
        self._function: Callable[[str], bool] | None = None
        self._origins: frozenset[str] = frozenset()
        if allowed is None or self.any:
            pass
        elif isinstance(allowed, str):
            self._origins = frozenset((allowed.rstrip("/").lower(),))
        elif callable(allowed):
            self._function = allowed
        else:
            try:
                origins: list[Any] = list(allowed)
            except TypeError:
                origins = [allowed]  # refused just below, with the same message
            if not all(isinstance(origin, str) for origin in origins):
                raise LocalProtocolError(
                    "cors_allowed_origins takes None, '*', an origin, a list of origins or "
                    f"a function, not {allowed!r}"
                )
            self._origins = frozenset(origin.rstrip("/").lower() for origin in origins)
        self.credentials = bool(credentials)
        self._refused: set[str] = set()

    def allows(self, origin: str | None, request: HandshakeRequest) -> bool:
        if origin is None or self.any:
            return True
        normalized = origin.rstrip("/").lower()
        if normalized in self._origins or normalized == _own_origin(request):
            return True
        if self._function is not None:
            try:
                if self._function(origin):
                    return True
            except Exception:
                logger.exception("cors_allowed_origins failed for origin %r: refused", origin)
                return False
        if origin not in self._refused and len(self._refused) < 1000:
            self._refused.add(origin)
            logger.warning(
                "origin %r is not allowed (cors_allowed_origins): refused; this is logged "
                "once per origin",
                origin,
            )
        return False

    def headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The CORS headers of an answer to an allowed request from ``origin``."""
        if origin is None:
            return []
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if self.credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def preflight_headers(self, origin: str, request: HandshakeRequest) -> list[tuple[str, str]]:
        """The headers of the answer to an allowed preflight (``OPTIONS``) request."""
        headers = self.headers(origin)
        headers.append(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
        requested = request.headers.get("access-control-request-headers")
        if requested:
            headers.append(("Access-Control-Allow-Headers", requested))
        headers.append(("Access-Control-Max-Age", "86400"))
        return headers


def _own_origin(request: HandshakeRequest) -> str | None:
    """``scheme://host`` of the request itself (as the client addressed it)."""
    if request.host is None:
        return None
    return f"{'https' if request.secure else 'http'}://{request.host.lower()}"
