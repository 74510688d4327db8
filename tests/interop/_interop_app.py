"""The application every server under test runs: handlers that let a client drive a scenario.

It is written against the API the bindings share (``@server.on``, ``socket.join``,
``await socket.emit``, ``server.of(nsp).to(...)``, ...) and nothing else, so that each binding
serves the very same application. Tests never reach into the server: they see it only
through what clients receive, so that a server running in another thread or event loop
(trio) is tested the same way. Whatever a handler needs to report goes back to the clients,
as an acknowledgement or as an event.

Namespaces ``/`` and ``/chat`` have the same handlers; ``echo`` answers with the namespace
first, so a client can tell which one answered.
"""

from __future__ import annotations

from typing import Any

from _interop_bindings import BindingAPI

NAMESPACES = ("/", "/chat")

#: ``auth`` values the ``connect`` handler refuses.
REFUSE_WITH_ERROR = {"token": "refuse"}  # ConnectionRefusedError(message, data)
REFUSE_WITH_FALSE = {"token": "false"}  # the handler returns False
REFUSAL_MESSAGE = "bad token"
REFUSAL_DATA = {"code": 4001, "retry": False, "hint": ["ask", "again"]}


def _names(rooms: Any, sid: str) -> list[str]:
    """The rooms of a socket other than its own id room, sorted (as strings)."""
    return sorted(str(room) for room in rooms if room != sid)


def burst_item(index: int) -> Any:
    """The payload of the ``index``-th event of a ``burst``: bytes every third one."""
    if index % 3 == 0:
        return bytes([index % 256]) * (index + 1)
    return "é✓🎉\x1e" * index


def install(server: Any, api: BindingAPI) -> None:
    """Register the scenario handlers on ``server`` (an ``AsyncServer`` of any binding)."""
    for nsp in NAMESPACES:
        _install_namespace(server, api, nsp)


def _install_namespace(server: Any, api: BindingAPI, nsp: str) -> None:
    on = server.on

    @on("connect", namespace=nsp)
    async def connect(socket: Any, auth: Any) -> Any:
        auth = auth or {}
        if auth.get("token") == REFUSE_WITH_ERROR["token"]:
            raise api.ConnectionRefusedError(REFUSAL_MESSAGE, REFUSAL_DATA)
        if auth.get("token") == REFUSE_WITH_FALSE["token"]:
            return False
        socket.data["name"] = auth.get("name")
        if auth.get("rooms"):  # joined before the connection is accepted (as a middleware)
            socket.join(auth["rooms"])
        if auth.get("welcome"):  # an emit from the connect handler
            await socket.emit("welcome", socket.sid, _names(socket.rooms, socket.sid))
        return None

    @on("whoami", namespace=nsp)
    async def whoami(socket: Any) -> Any:
        return {
            "sid": socket.sid,
            "nsp": socket.nsp,
            "name": socket.data.get("name"),
            "auth": socket.handshake.auth,
            "transport": socket.handshake.query.get("transport"),
            "rooms": _names(socket.rooms, socket.sid),
            "in_own_room": socket.sid in socket.rooms,
        }

    @on("echo", namespace=nsp)
    async def echo(socket: Any, *args: Any) -> Any:
        return (nsp, *args)  # a tuple: several acknowledgement arguments

    @on("*", namespace=nsp)
    async def catch_all(socket: Any, event: str, *args: Any) -> Any:
        return ("caught", event, *args)

    @on("join", namespace=nsp)
    async def join(socket: Any, rooms: Any) -> Any:
        socket.join(rooms)
        return _names(socket.rooms, socket.sid)

    @on("leave", namespace=nsp)
    async def leave(socket: Any, room: Any) -> Any:
        socket.leave(room)
        return _names(socket.rooms, socket.sid)

    @on("record", namespace=nsp)
    async def record(socket: Any, *args: Any) -> None:
        socket.data.setdefault("log", []).append(list(args))

    @on("log", namespace=nsp)
    async def log(socket: Any) -> Any:
        return socket.data.get("log", [])

    @on("burst", namespace=nsp)
    async def burst(socket: Any, count: int) -> Any:
        """``count`` events ``seq`` to the caller, text and binary mixed (see burst_item)."""
        for index in range(count):
            await socket.emit("seq", index, burst_item(index))
        return count

    # -- emitting: each handler answers once the emit is done --------------------------------

    @on("socket_to", namespace=nsp)
    async def socket_to(socket: Any, rooms: Any, event: str, *args: Any) -> Any:
        await socket.to(rooms).emit(event, *args)
        return "sent"

    @on("socket_except", namespace=nsp)
    async def socket_except(socket: Any, rooms: Any, event: str, *args: Any) -> Any:
        await socket.except_(rooms).emit(event, *args)
        return "sent"

    @on("socket_broadcast", namespace=nsp)
    async def socket_broadcast(socket: Any, event: str, *args: Any) -> Any:
        await socket.broadcast.emit(event, *args)
        return "sent"

    @on("server_emit", namespace=nsp)
    async def server_emit(socket: Any, target: Any, event: str, *args: Any) -> Any:
        """``target``: ``{"to": [rooms], "except": [rooms]}``, either optional."""
        operator = server.of(nsp)
        if target.get("to"):
            operator = operator.to(target["to"])
        if target.get("except"):
            operator = operator.except_(target["except"])
        await operator.emit(event, *args)
        return "sent"

    @on("server_emit_volatile", namespace=nsp)
    async def server_emit_volatile(socket: Any, room: Any, event: str, *args: Any) -> Any:
        await server.of(nsp).to(room).volatile.emit(event, *args)
        return "sent"

    @on("whoami_recovered", namespace=nsp)
    async def whoami_recovered(socket: Any) -> Any:
        """What the server knows of a socket that may have been recovered."""
        return {
            "sid": socket.sid,
            "recovered": socket.recovered,
            "rooms": _names(socket.rooms, socket.sid),
            "in_own_room": socket.sid in socket.rooms,
            "name": socket.data.get("name"),
        }

    @on("fence", namespace=nsp)
    async def fence(socket: Any, token: Any) -> Any:
        """Every socket of the namespace gets ``fence``. A connection delivers in order, so
        a client that saw the fence has seen everything sent to it before."""
        await server.of(nsp).emit("fence", token)
        return token

    # -- acknowledgements asked by the server ----------------------------------------------------

    @on("ask", namespace=nsp)
    async def ask(socket: Any, timeout: float, *args: Any) -> Any:
        """``socket.emit_with_ack("question", *args)`` to the caller; answers what came."""
        try:
            answer = await socket.emit_with_ack("question", *args, timeout=timeout)
        except api.AckTimeoutError:
            return ("timeout",)
        return ("answered", list(answer))

    @on("poll_room", namespace=nsp)
    async def poll_room(socket: Any, room: Any, timeout: float, *args: Any) -> Any:
        """``server.to(room).timeout(t).emit_with_ack("poll", *args)``; answers the result."""
        try:
            responses = await server.of(nsp).to(room).timeout(timeout).emit_with_ack("poll", *args)
        except api.AckTimeoutError as error:
            return {"timed_out": True, "responses": list(error.responses)}
        return {"timed_out": False, "responses": list(responses)}

    # -- disconnections ----------------------------------------------------------------------

    @on("kick", namespace=nsp)
    async def kick(socket: Any, room: Any, close: bool) -> Any:
        await server.of(nsp).in_(room).disconnect_sockets(close)
        return "kicked"

    @on("fetch", namespace=nsp)
    async def fetch(socket: Any, room: Any) -> Any:
        sockets = await server.of(nsp).in_(room).fetch_sockets()
        return sorted(s.sid for s in sockets)

    @on("disconnecting", namespace=nsp)
    async def disconnecting(socket: Any, reason: str) -> None:
        # The rooms are still there: tell them who left.
        rooms = _names(socket.rooms, socket.sid)
        if rooms:
            report = {"sid": socket.sid, "name": socket.data.get("name"), "rooms": rooms}
            await socket.to(rooms).emit("left", {**report, "reason": reason})

    @on("disconnect", namespace=nsp)
    async def disconnect(socket: Any, reason: str) -> None:
        # The rooms are gone now: everyone still here hears it (not the one that left, should
        # it come back with connection state recovery: the notice is about it).
        report = {"sid": socket.sid, "reason": reason, "rooms": _names(socket.rooms, socket.sid)}
        await server.of(nsp).except_(socket.sid).emit("gone", report)
