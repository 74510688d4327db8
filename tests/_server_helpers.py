"""Scripted clients and expected outputs for the tests of the two server machines.

``EngineIOServer`` and ``ServerMachine`` take the same transport inputs, so the helpers work
with either: a :class:`Client` performs the handshake over long-polling or WebSocket and then
sends packets the way a real client would (one WebSocket message per packet, or one POST per
batch with the packets joined by ``"\\x1e"``).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from typing import Any

from sansio_rooms._engineio_server import (
    EngineIOServer,
    HttpRequest,
    HttpResponse,
    SessionOpened,
    WebSocketReject,
    WebSocketSend,
)
from sansio_rooms._server import ConnectRequest, ServerMachine

TEXT_PLAIN = (("content-type", "text/plain; charset=UTF-8"), ("cache-control", "no-store"))
TEXT_HTML = (("content-type", "text/html"), ("cache-control", "no-store"))
JSON_TYPE = (("content-type", "application/json"),)

ERROR_MESSAGES = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    5: "Unsupported protocol version",
}


def query(sid: str | None = None, transport: str = "polling", **extra: str) -> dict[str, str]:
    """An Engine.IO query string, parsed: ``EIO=4`` unless ``EIO`` is given."""
    result = {"EIO": "4", "transport": transport, **extra}
    if sid is not None:
        result["sid"] = sid
    return result


def http_get(handle: Any, sid: str | None = None, **extra: str) -> HttpRequest:
    return HttpRequest(handle=handle, method="GET", query=query(sid, **extra))


def http_post(handle: Any, sid: str | None, body: bytes | str, **extra: Any) -> HttpRequest:
    content_type = extra.pop("content_type", None)
    data = body.encode() if isinstance(body, str) else body
    return HttpRequest(
        handle=handle,
        method="POST",
        query=query(sid, **extra),
        body=data,
        content_type=content_type,
    )


def polled(handle: Any, body: str | bytes) -> HttpResponse:
    """The answer to a GET: 200, text/plain, ``body``."""
    data = body.encode() if isinstance(body, str) else body
    return HttpResponse(handle=handle, status=200, headers=TEXT_PLAIN, body=data)


def ok(handle: Any) -> HttpResponse:
    """The answer to a POST that was read: 200 ``ok``."""
    return HttpResponse(handle=handle, status=200, headers=TEXT_HTML, body=b"ok")


def error_body(code: int) -> bytes:
    return f'{{"code":{code},"message":"{ERROR_MESSAGES[code]}"}}'.encode()


def http_error(handle: Any, code: int) -> HttpResponse:
    return HttpResponse(handle=handle, status=400, headers=JSON_TYPE, body=error_body(code))


def ws_reject(handle: Any, code: int) -> WebSocketReject:
    return WebSocketReject(handle=handle, status=400, body=error_body(code))


def ws_send(handles: Any, *frames: str | bytes, volatile: bool = False) -> WebSocketSend:
    if not isinstance(handles, tuple):
        handles = (handles,)
    # A ping and the probe's answer are control frames: they must not wait behind data.
    control = frames in (("2",), ("3probe",))
    return WebSocketSend(handles=handles, frames=frames, volatile=volatile, control=control)


def open_packet(
    sid: str,
    upgrades: Sequence[str] = ("websocket",),
    ping_interval: int = 25000,
    ping_timeout: int = 20000,
    max_payload: int = 1_000_000,
) -> str:
    """The exact ``open`` packet, written here by hand (Node's key order, no spaces)."""
    listed = ",".join(f'"{u}"' for u in upgrades)
    return (
        f'0{{"sid":"{sid}","upgrades":[{listed}],"pingInterval":{ping_interval},'
        f'"pingTimeout":{ping_timeout},"maxPayload":{max_payload}}}'
    )


def b64(data: bytes) -> str:
    """A binary packet in a long-polling payload."""
    return "b" + base64.b64encode(data).decode()


def polling_payload(packets: Sequence[str | bytes]) -> str:
    """Engine.IO packets (text with their type, or binary messages) as one POST body."""
    return "\x1e".join(p if isinstance(p, str) else b64(p) for p in packets)


def sequential(prefix: str) -> Any:
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


def server_machine(**options: Any) -> ServerMachine:
    """A machine with the namespaces ``/`` and ``/chat``, Engine.IO ids ``E1``, ``E2``... and
    socket ids ``S1``, ``S2``..."""
    options.setdefault("namespaces", ["/", "/chat"])
    machine = ServerMachine(id_factory=sequential("E"), **options)
    machine.engine.id_factory = sequential("S")
    return machine


def engineio_server(**options: Any) -> EngineIOServer:
    return EngineIOServer(id_factory=sequential("E"), **options)


Machine = EngineIOServer | ServerMachine


class Client:
    """One scripted client of ``machine``; ``name`` is its WebSocket handle (and the prefix of
    its HTTP request handles). ``opened`` holds the handshake's outputs."""

    def __init__(
        self, machine: Machine, name: str, transport: str = "websocket", now: float = 0.0
    ) -> None:
        self.machine = machine
        self.name = name
        self.transport = transport
        self._requests = itertools.count(1)
        if transport == "websocket":
            self.opened: list[Any] = machine.websocket_connect(
                name, query(transport="websocket"), now
            )
        else:
            self.opened = machine.receive_request(http_get(self.handle("get")), now)
        (session,) = [o for o in self.opened if type(o) is SessionOpened]
        self.eio_sid: str = session.eio_sid
        self.sids: dict[str, str] = {}  # namespace -> socket id (ServerMachine only)

    def handle(self, kind: str) -> str:
        """A fresh HTTP request handle: ``"<name>:<kind><n>"``."""
        return f"{self.name}:{kind}{next(self._requests)}"

    def send(self, *packets: str | bytes, now: float = 0.0) -> list[Any]:
        """Engine.IO packets: one WebSocket message each, or one POST for all of them. Over
        polling the POST's ``ok`` must be the last output, and is left out."""
        if self.transport == "websocket":
            outputs = []
            for packet in packets:
                outputs += self.machine.websocket_message(self.name, packet, now)
            return outputs
        handle = self.handle("post")
        body = polling_payload(packets)
        outputs = self.machine.receive_request(http_post(handle, self.eio_sid, body), now)
        assert outputs[-1] == ok(handle), outputs
        return outputs[:-1]

    def emit(self, *messages: str | bytes, now: float = 0.0) -> list[Any]:
        """Socket.IO messages, each in an Engine.IO message packet."""
        return self.send(*(m if isinstance(m, bytes) else "4" + m for m in messages), now=now)

    def poll(self, now: float = 0.0) -> tuple[str, list[Any]]:
        """A GET: its handle and what the machine answered at once."""
        handle = self.handle("get")
        return handle, self.machine.receive_request(http_get(handle, self.eio_sid), now)

    def connect(self, nsp: str = "/", auth: str = "", now: float = 0.0) -> str:
        """CONNECT ``nsp`` and have the application accept it; the CONNECT reply is read
        (and a polling client's GET is answered with it). Returns the socket id."""
        machine = self.machine
        assert isinstance(machine, ServerMachine)
        prefix = "" if nsp == "/" else nsp + ","
        (request,) = [
            o for o in self.emit(f"0{prefix}{auth}", now=now) if type(o) is ConnectRequest
        ]
        sid: str = request.sid
        machine.accept(nsp, sid)
        if self.transport == "polling":
            _, answer = self.poll(now)
            assert type(answer[0]) is HttpResponse, answer
        self.sids[nsp] = sid
        return sid
