"""The official Socket.IO Admin UI on a server: ``server.instrument()``.

The UI (``@socket.io/admin-ui`` 0.5 on npm, also served at https://admin.socket.io) is a
Socket.IO client of a namespace of the server, ``/admin`` by default. This module is the
server half of that package (its ``dist/index.js``), written once for both bindings over
:class:`ServerDriver`:

* who may connect: ``auth=False``, Node's ``{"type": "basic", "username", "password"}`` (a
  bcrypt hash, checked in a worker thread), or python-socketio's forms (a dict of
  credentials, a list of them, a function); a successful login gets a session id
  (``session``) the UI reconnects with;
* what an admin is sent on connect: ``config`` (the supported features), ``all_sockets``
  (development mode), ``server_stats`` (now, then every ``server_stats_interval`` seconds,
  to every admin: namespaces, clients, aggregated connections and bytes);
* what happens, as it happens (development mode): ``socket_connected``, ``socket_updated``
  (an upgrade to WebSocket, seen at the next stats), ``socket_disconnected``,
  ``room_joined``, ``room_left``, ``event_received``, ``event_sent``;
* what an admin may do, unless ``read_only``: ``join``, ``leave``, ``_disconnect``, ``emit``
  (the UI's actions, on a namespace, for all its sockets or those of a room: a socket's id
  is a room). Bad arguments are refused with a log line; nothing an admin sends can reach
  another client except through these actions.

How it sees the server: :meth:`ServerDriver._observe` (one delimited hook; a server nobody
instruments runs the class's code unchanged), and in development mode the engine's room
notices.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from . import _engineio_server as eio
from . import _server as sio
from ._app import ConnectionRefusedError, Selection
from ._errors import LocalProtocolError, SansioRoomsError
from ._names import normalize_namespace, normalize_room
from ._outputs import Connected, RoomJoined, RoomLeft, SocketDisconnected
from ._socketio import RESERVED_EVENTS

if TYPE_CHECKING:
    from ._driver import ServerDriver, Socket

__all__ = ["AdminUI"]

logger = logging.getLogger("sansio_rooms.admin")

#: What a refused admin is told: the UI shows its login form again on this very message.
INVALID_CREDENTIALS: Final = "invalid credentials"
MODES: Final = ("development", "production")
#: The features an admin may use (the UI hides what is not listed).
ACTIONS: Final = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
#: How many login sessions are remembered (the oldest is forgotten first), and for how long.
MAX_SESSIONS: Final = 1000
SESSION_SECONDS: Final = 24 * 3600.0
#: A bcrypt hash, as bcryptjs (Node) and bcrypt (Python) write them.
_BCRYPT_HASH = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")
#: One refusal per event: the log line an admin's bad input gets.
_REFUSED = "admin UI: %r from socket %s refused: %s"


def _timestamp(seconds: float) -> str:
    """What JSON makes of a JavaScript ``Date``: ISO 8601, milliseconds, UTC, "Z"."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(data: Any) -> Any:
    """``socket.data`` as JSON can carry it: what JSON cannot hold becomes its ``repr``."""
    try:
        return json.loads(json.dumps(data, default=repr, skipkeys=True))
    except (ValueError, TypeError, RecursionError):  # a cycle, say
        return {}


def _bytes(data: str | bytes) -> int:
    if isinstance(data, bytes) or data.isascii():
        return len(data)
    return len(data.encode())


class _Credentials:
    """Who may connect to the admin namespace (``auth`` of :meth:`instrument`)."""

    def __init__(self, auth: Any) -> None:
        self.hashed: tuple[str, str] | None = None
        self.accounts: tuple[Mapping[str, Any], ...] = ()
        self.function: Callable[[Any], Any] | None = None
        self.open = auth is False
        if self.open:
            return
        if isinstance(auth, Mapping) and "type" in auth:
            self.hashed = self._basic(auth)
        elif isinstance(auth, Mapping):
            self.accounts = (auth,)
        elif isinstance(auth, list | tuple) and auth and all(isinstance(a, Mapping) for a in auth):
            self.accounts = tuple(auth)
        elif callable(auth) and auth is not True:
            self.function = auth
        elif auth is None:
            raise LocalProtocolError(
                "instrument() needs auth: {'type': 'basic', 'username': ..., 'password': "
                "<bcrypt hash>}, credentials (a dict, a list of dicts), a function, or False "
                "to let anyone in"
            )
        else:
            raise LocalProtocolError(f"instrument(): invalid auth {auth!r}")

    @staticmethod
    def _basic(auth: Mapping[str, Any]) -> tuple[str, str]:
        username, password = auth.get("username"), auth.get("password")
        if auth["type"] != "basic" or type(username) is not str:
            raise LocalProtocolError(
                "instrument(): auth must be {'type': 'basic', 'username': str, 'password': "
                f"<bcrypt hash>}}, not {auth!r}"
            )
        if type(password) is not str or not _BCRYPT_HASH.fullmatch(password):
            raise LocalProtocolError(
                "instrument(): the password must be a valid bcrypt hash (the UI sends the "
                "password itself; the server keeps only its hash)"
            )
        try:
            import bcrypt  # noqa: F401
        except ImportError:  # pragma: no cover - the tests run with the extra installed
            raise LocalProtocolError(
                "instrument(): a bcrypt-hashed password needs the bcrypt package: "
                "pip install 'sansio-rooms[admin]'"
            ) from None
        return username, password

    async def admit(self, server: ServerDriver, auth: Any) -> bool:
        """Whether ``auth`` (the CONNECT payload) is an admin's. A malformed one is not."""
        if self.function is not None:
            answer = self.function(auth)
            if inspect.isawaitable(answer):
                answer = await answer
            return answer is True
        if not isinstance(auth, Mapping):
            return False
        if self.hashed is not None:
            username, password = auth.get("username"), auth.get("password")
            if type(username) is not str or type(password) is not str:
                return False
            if not hmac.compare_digest(username.encode(), self.hashed[0].encode()):
                return False
            matches: bool = await server._run_blocking(_bcrypt_matches, password, self.hashed[1])
            return matches
        return any(_same(account, auth) for account in self.accounts)


def _bcrypt_matches(password: str, hashed: str) -> bool:
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password.encode(), hashed.encode()))
    except ValueError:  # over 72 bytes: bcrypt 5 refuses rather than truncates
        return False


def _same(account: Mapping[str, Any], auth: Mapping[str, Any]) -> bool:
    """Every field of ``account`` is in ``auth`` with the same value (strings compared in
    constant time); fields the UI adds (``sessionId``) do not matter."""
    for key, expected in account.items():
        given = auth.get(key)
        if type(expected) is str and type(given) is str:
            if not hmac.compare_digest(expected.encode(), given.encode()):
                return False
        elif given != expected or type(given) is not type(expected):
            return False
    return True


class _Stats:
    """Aggregated events (``EventBuffer`` in Node): counts per second, type and sub-type."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str, str | None], int] = {}

    def add(self, seconds: float, kind: str, sub_type: str | None = None, count: int = 1) -> None:
        key = (int(seconds) * 1000, kind, sub_type)
        self._counts[key] = self._counts.get(key, 0) + count

    def take(self) -> list[dict[str, Any]]:
        counts, self._counts = self._counts, {}
        events = []
        for (timestamp, kind, sub_type), count in counts.items():
            event: dict[str, Any] = {"timestamp": timestamp, "type": kind, "count": count}
            if sub_type is not None:
                event["subType"] = sub_type
            events.append(event)
        return events


class AdminUI:
    """What :meth:`instrument` set up on a server: its options as attributes
    (``namespace_name``, ``mode``, ``read_only``, ``server_id``, ``server_stats_interval``)
    and :meth:`stats` (what the next ``server_stats`` says)."""

    def __init__(
        self,
        server: ServerDriver,
        *,
        auth: Any,
        mode: str,
        read_only: bool,
        namespace_name: str,
        server_id: str | None,
        server_stats_interval: float,
    ) -> None:
        if mode not in MODES:
            raise LocalProtocolError(
                f"instrument(): mode is 'development' or 'production', not {mode!r}"
            )
        if type(read_only) is not bool:
            raise LocalProtocolError(f"instrument(): read_only is a bool, not {read_only!r}")
        if type(server_stats_interval) not in (int, float) or not server_stats_interval > 0:
            raise LocalProtocolError(
                f"instrument(): server_stats_interval is seconds > 0, not {server_stats_interval!r}"
            )
        if server_id is not None and type(server_id) is not str:
            raise LocalProtocolError(f"instrument(): server_id is a str, not {server_id!r}")
        self._credentials = _Credentials(auth)
        self.server = server
        self.namespace_name = normalize_namespace(namespace_name)
        self.mode = mode
        self.read_only = read_only
        self.server_stats_interval = float(server_stats_interval)
        import platform

        self.hostname = platform.node()
        self.pid = os.getpid()
        if server_id is None:  # the servers of a cluster must differ (the UI lists them)
            server_id = self.hostname if server.cluster is None else f"{self.hostname}#{self.pid}"
        self.server_id = server_id
        self.development = mode == "development"
        features = [] if read_only else list(ACTIONS)
        features.append("AGGREGATED_EVENTS")
        if self.development:
            features.append("ALL_EVENTS")
        self.features = tuple(features)
        self._started = server._wall_time()
        self._stats = _Stats()
        #: Login sessions: id -> when it expires (wall clock).
        self._sessions: dict[str, float] = {}
        #: The admin sockets of this server.
        self._admins: set[str] = set()
        #: Engine.IO sessions of this server (for the polling count).
        self._clients: set[str] = set()
        #: Sockets last reported on long-polling, to report their upgrade: (nsp, sid) -> eio.
        self._polling: dict[tuple[str, str], str] = {}
        self._reporting = False
        self._register()
        self._everyone = server.of(self.namespace_name)
        outputs: dict[type, Callable[[Any], None]] = {
            Connected: self._on_connected,
            SocketDisconnected: self._on_disconnected,
            eio.SessionOpened: self._on_session_opened,
            eio.SessionClosed: self._on_session_closed,
            eio.WebSocketSend: self._on_websocket_send,
            eio.HttpResponse: self._on_http_response,
        }
        if self.development:
            outputs[sio.EventReceived] = self._on_event_received
            outputs[RoomJoined] = self._on_room_joined
            outputs[RoomLeft] = self._on_room_left
            # Node's adapter tells of every join and leave; the engine does when asked.
            server.machine.engine.notices = True
        self.outputs: Mapping[type, Callable[[Any], None]] = outputs
        server._observe(self)

    def __repr__(self) -> str:
        access = " read-only" if self.read_only else ""
        return f"<AdminUI {self.namespace_name} {self.mode}{access}>"

    # -- the admin namespace ---------------------------------------------------------------

    def _register(self) -> None:
        server, nsp = self.server, self.namespace_name
        server.on("connect", self._admit, nsp)
        actions: dict[str, Callable[..., Any]] = {
            "join": self._join,
            "leave": self._leave,
            "_disconnect": self._disconnect,
            "emit": self._emit,
        }
        for event, action in actions.items():
            server.on(event, _refusal(event) if self.read_only else action, nsp)

    async def _admit(self, socket: Socket, auth: Any) -> None:
        if self._credentials.open:
            return
        now = self.server._wall_time()
        session = auth.get("sessionId") if isinstance(auth, Mapping) else None
        if type(session) is str and self._sessions.get(session, 0.0) > now:
            return
        try:
            admitted = await self._credentials.admit(self.server, auth)
        except Exception:
            logger.exception("admin UI: the auth function failed (socket %s): refused", socket.sid)
            admitted = False
        if not admitted:
            logger.warning("admin UI: invalid credentials (socket %s)", socket.sid)
            raise ConnectionRefusedError(INVALID_CREDENTIALS)
        session = secrets.token_urlsafe(16)
        self._sessions[session] = now + SESSION_SECONDS
        if len(self._sessions) > MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        # Sent once the socket is accepted, first (dropped if it is not).
        socket.emit("session", session)

    def _welcome(self, socket: Socket) -> None:
        """A new admin: the configuration, every socket, the stats."""
        socket.emit("config", {"supportedFeatures": list(self.features)})
        if self.development:
            sockets = [self._serialize(s) for s in self.server._sockets.values() if s.connected]
            sockets.append(self._serialize(socket))
            socket.emit("all_sockets", sockets)
        socket.emit("server_stats", self.stats(aggregated=False))

    def stats(self, *, aggregated: bool = True) -> dict[str, Any]:
        """What ``server_stats`` says now; ``aggregated``: with the events counted since the
        last time (which it then forgets)."""
        machine = self.server.machine
        polling = sum(1 for eio_sid in self._clients if self._transport(eio_sid) == "polling")
        return {
            "serverId": self.server_id,
            "hostname": self.hostname,
            "pid": self.pid,
            "uptime": self.server._wall_time() - self._started,
            "clientsCount": len(self._clients),
            "pollingClientsCount": polling,
            "aggregatedEvents": self._stats.take() if aggregated else [],
            "namespaces": [
                {"name": nsp, "socketsCount": machine.engine.namespace(nsp).count_sockets()}
                for nsp in machine.namespaces()
            ],
        }

    async def _report(self) -> None:
        """``server_stats`` every interval, from the first client on (for every admin: in a
        cluster, the other servers' too), and the upgrades seen since."""
        server = self.server
        try:
            while True:
                await server._sleep(self.server_stats_interval)
                stats = self.stats()
                if self._admins or server.cluster is not None:
                    self._tell("server_stats", stats)
                    self._report_upgrades()
        finally:
            self._reporting = False

    def _report_upgrades(self) -> None:
        engineio = self.server.engineio
        for key, eio_sid in list(self._polling.items()):
            if eio_sid in engineio and engineio.state_of(eio_sid) is eio.SessionState.WEBSOCKET:
                del self._polling[key]
                nsp, sid = key
                self._tell("socket_updated", {"id": sid, "nsp": nsp, "transport": "websocket"})

    def _tell(self, event: str, *args: Any) -> None:
        """Emit to every admin (of every server of a cluster, as Node's admin namespace)."""
        self._everyone.emit(event, *args)

    def _now(self) -> str:
        return _timestamp(self.server._wall_time())

    def _transport(self, eio_sid: str) -> str:
        engineio = self.server.engineio
        if eio_sid in engineio and engineio.state_of(eio_sid) is eio.SessionState.WEBSOCKET:
            return "websocket"
        return "polling"

    def _serialize(self, socket: Socket) -> dict[str, Any]:
        """A socket as the UI shows it (Node's ``serialize``)."""
        handshake = socket.handshake
        headers = dict(handshake.headers)
        address = headers.get("cf-connecting-ip") or headers.get("x-forwarded-for")
        return {
            "id": socket.sid,
            # Node's: the start of the Engine.IO id (the whole of it would let its holder
            # poll the session).
            "clientId": socket.eio_sid[:12],
            "transport": self._transport(socket.eio_sid),
            "nsp": socket.nsp,
            "data": _plain(socket.data),
            "handshake": {
                "address": address or handshake.address,
                "headers": headers,
                "query": dict(handshake.query),
                "issued": handshake.issued,
                "secure": handshake.secure,
                "time": handshake.time,
                "url": handshake.url,
                "xdomain": handshake.xdomain,
            },
            "rooms": list(self.server.machine.engine.namespace(socket.nsp).rooms_of(socket.sid)),
        }

    # -- what the server does (ServerDriver._observe) --------------------------------------

    def _on_connected(self, output: Connected) -> None:
        socket = self.server._sockets[(output.nsp, output.sid)]
        if self.development:
            serialized = self._serialize(socket)
            if serialized["transport"] == "polling":
                self._polling[(output.nsp, output.sid)] = socket.eio_sid
            self._tell("socket_connected", serialized, self._now())
        if output.nsp == self.namespace_name:
            self._admins.add(output.sid)
            self._welcome(socket)

    def _on_disconnected(self, output: SocketDisconnected) -> None:
        if output.nsp == self.namespace_name:
            self._admins.discard(output.sid)
        if self.development:
            self._polling.pop((output.nsp, output.sid), None)
            self._tell("socket_disconnected", output.nsp, output.sid, output.reason, self._now())

    def _on_room_joined(self, output: RoomJoined) -> None:
        self._tell("room_joined", output.nsp, output.room, output.sid, self._now())

    def _on_room_left(self, output: RoomLeft) -> None:
        self._tell("room_left", output.nsp, output.room, output.sid, self._now())

    def _on_event_received(self, output: sio.EventReceived) -> None:
        if output.nsp != self.namespace_name:
            received = [output.event, *output.args]
            self._tell("event_received", output.nsp, output.sid, received, self._now())

    def sent(
        self, selection: Selection, sids: tuple[str, ...] | None, event: str, args: tuple[Any, ...]
    ) -> None:
        """The application emitted ``event``: one ``event_sent`` per recipient, as Node's
        ``onAnyOutgoing`` (development mode; not for the admin namespace's own events)."""
        nsp = selection.nsp
        if not self.development or nsp == self.namespace_name:
            return
        namespace = self.server.machine.engine.namespace(nsp)
        recipients = namespace.members_of(
            selection.rooms, except_=selection.except_rooms, sids=sids
        )
        now, sent = self._now(), [event, *args]
        for sid in recipients:
            if sid != selection.sender:
                self._tell("event_sent", nsp, sid, sent, now)

    def _on_session_opened(self, output: eio.SessionOpened) -> None:
        self._clients.add(output.eio_sid)
        self._stats.add(self.server._wall_time(), "rawConnection")
        if not self._reporting:  # the server runs now (trio: in its nursery)
            self._reporting = True
            self.server._spawn_background(self._report())

    def _on_session_closed(self, output: eio.SessionClosed) -> None:
        self._clients.discard(output.eio_sid)
        self._stats.add(self.server._wall_time(), "rawDisconnection", output.reason)

    def _on_websocket_send(self, output: eio.WebSocketSend) -> None:
        size = sum(_bytes(frame) for frame in output.frames)
        recipients = len(output.handles)
        now = self.server._wall_time()
        self._stats.add(now, "packetsOut", count=len(output.frames) * recipients)
        self._stats.add(now, "bytesOut", count=size * recipients)

    def _on_http_response(self, output: eio.HttpResponse) -> None:
        if output.body:
            now = self.server._wall_time()
            self._stats.add(now, "packetsOut", count=output.body.count(b"\x1e") + 1)
            self._stats.add(now, "bytesOut", count=len(output.body))

    def received(self, data: str | bytes) -> None:
        """A transport message arrived (a WebSocket message, a long-polling POST's body)."""
        if data:
            now = self.server._wall_time()
            separator = "\x1e" if type(data) is str else b"\x1e"
            self._stats.add(now, "packetsIn", count=data.count(separator) + 1)  # type: ignore[arg-type]
            self._stats.add(now, "bytesIn", count=_bytes(data))

    # -- what an admin asks for --------------------------------------------------------------

    def _namespace(self, nsp: Any) -> str:
        if type(nsp) is not str or nsp not in self.server.machine.namespaces():
            raise LocalProtocolError(f"no namespace {nsp!r}")
        return nsp

    def _selection(self, nsp: Any, room_filter: Any) -> Any:
        """``server.of(nsp)``, narrowed to a room (a socket's id) when a filter is given."""
        operator = self.server.of(self._namespace(nsp))
        if room_filter is None or room_filter == "":
            return operator
        return operator.in_(normalize_room(room_filter))

    async def _join(self, socket: Socket, *args: Any) -> None:
        """``join(nsp, room, filter?)``: the selected sockets join ``room``."""
        await self._act(socket, "join", args, 2, self._membership(join=True))

    async def _leave(self, socket: Socket, *args: Any) -> None:
        """``leave(nsp, room, filter?)``: the selected sockets leave ``room``."""
        await self._act(socket, "leave", args, 2, self._membership(join=False))

    def _membership(self, *, join: bool) -> Callable[..., Any]:
        async def change(nsp: Any, room: Any, room_filter: Any = None) -> None:
            operator = self._selection(nsp, room_filter)
            room = normalize_room(room)
            await (operator.sockets_join(room) if join else operator.sockets_leave(room))

        return change

    async def _disconnect(self, socket: Socket, *args: Any) -> None:
        """``_disconnect(nsp, close, filter?)``: the selected sockets are disconnected (their
        whole connections with ``close``)."""

        async def disconnect(nsp: Any, close: Any, room_filter: Any = None) -> None:
            if type(close) is not bool:
                raise TypeError(f"close is true or false, not {close!r}")
            await self._selection(nsp, room_filter).disconnect_sockets(close)

        await self._act(socket, "_disconnect", args, 2, disconnect)

    async def _emit(self, socket: Socket, *args: Any) -> None:
        """``emit(nsp, filter, event, *args)``: the selected sockets get ``event``."""

        async def emit(nsp: Any, room_filter: Any, event: Any, *data: Any) -> None:
            if type(event) is not str or event in RESERVED_EVENTS:
                raise TypeError(f"{event!r} is not an event name one may emit")
            await self._selection(nsp, room_filter).emit(event, *data)

        await self._act(socket, "emit", args, 3, emit, many=True)

    async def _act(
        self,
        socket: Socket,
        name: str,
        args: tuple[Any, ...],
        required: int,
        action: Callable[..., Any],
        *,
        many: bool = False,
    ) -> None:
        if len(args) < required or (not many and len(args) > required + 1):
            logger.warning(_REFUSED, name, socket.sid, f"wrong arguments {args!r}")
            return
        try:
            await action(*args)
        except (SansioRoomsError, TypeError, ValueError) as error:
            logger.warning(_REFUSED, name, socket.sid, error)


def _refusal(event: str) -> Callable[..., Any]:
    """The handler of an action of a read-only admin UI (the UI does not offer them)."""

    def refuse(socket: Socket, *args: Any) -> None:
        logger.warning(_REFUSED, event, socket.sid, "the admin UI is read-only")

    return refuse


class Instrumented:
    """``instrument()``, a mixin of :class:`ServerDriver` (``self`` is the server)."""

    _admin_ui: AdminUI | None = None

    def instrument(
        self,
        auth: Any = None,
        *,
        mode: str = "development",
        read_only: bool = False,
        namespace_name: str = "/admin",
        server_id: str | None = None,
        server_stats_interval: float = 2.0,
    ) -> AdminUI:
        """Serve the Socket.IO Admin UI (``@socket.io/admin-ui`` 0.5) on ``namespace_name``.

        ``auth``: ``{"type": "basic", "username": ..., "password": <bcrypt hash>}`` (as Node's;
        needs ``pip install 'sansio-rooms[admin]'``), credentials the UI must send (a dict,
        or a list of dicts, as python-socketio's), a function of the client's auth (sync or
        async) answering ``True`` to let it in, or ``False``: anyone (a local demo only).
        ``mode``: ``"development"`` reports every socket, room change and event (a cost on
        every one of them); ``"production"`` only the stats. ``read_only``: the UI may look,
        not act. ``server_id``: how the UI names this server (default: the host name, with
        the process id in a cluster). ``server_stats_interval``: seconds between stats.
        Returns the :class:`AdminUI`; call it once per server."""
        if self._admin_ui is not None:
            raise LocalProtocolError("this server is instrumented already")
        server = cast("ServerDriver", self)
        self._admin_ui = AdminUI(
            server,
            auth=auth,
            mode=mode,
            read_only=read_only,
            namespace_name=namespace_name,
            server_id=server_id,
            server_stats_interval=server_stats_interval,
        )
        return self._admin_ui

    async def _run_blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` where it does not hold up the loop (a binding runs it in a
        worker thread; by default it runs here)."""
        return function(*args)
