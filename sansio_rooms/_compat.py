"""python-socketio's server API, for code written against it (loop-independent).

:class:`SidMethods`, a mixin of :class:`ServerDriver`, so every server has them:
python-socketio's server methods, which name a client by its socket id (``sid``) and a
namespace (``"/"`` when not given) — the keywords of ``server.emit`` (``to``, ``room``,
``skip_sid``, ``namespace``, ``callback``), ``send``, ``call``, ``enter_room``,
``leave_room``, ``rooms``, ``close_room``, ``disconnect``, the session (``get_session``,
``save_session``, ``session``: the socket's ``data`` dict), ``start_background_task`` and
``sleep``. Arguments stay Node-style (``emit(event, *args)``), and the Node-style API
(``socket.join``, ``server.to(room).emit``) stays the primary one: these are a path for
code that has sids. Handlers with python-socketio's signatures: ``_compat_server.py``.

Sockets are looked up on this server. What a method does with a sid that is not here (it
never was, it has left, or it is another server's in a cluster) is in its docstring.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._errors import InvalidStateError, LocalProtocolError, UnknownSocketError
from ._names import Room, normalize_namespace, normalize_rooms
from ._outputs import Deliveries

if TYPE_CHECKING:
    from ._driver import ServerDriver, Socket

__all__ = ["SidMethods"]

logger = logging.getLogger("sansio_rooms.server")
F = TypeVar("F", bound=Callable[..., Any])

#: How long an ``emit(..., callback=)`` waits for the client's answer. python-socketio waits
#: for ever; here the answer has a deadline like every acknowledgement (a client that never
#: answers would otherwise hold its bookkeeping for ever). A later answer is dropped and the
#: callback is not called.
CALLBACK_TIMEOUT = 60.0


async def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def _driver(mixin: object) -> ServerDriver:
    return cast("ServerDriver", mixin)


def _one_of(first: str, a: Any, second: str, b: Any) -> Any:
    """python-socketio's two names for one argument (``to``/``room``, ``to``/``sid``)."""
    if a is not None and b is not None:
        raise TypeError(f"give {first}= or {second}=, not both")
    return a if a is not None else b


class SidMethods:
    """python-socketio's server methods, by sid (see the module docstring). A mixin of
    :class:`ServerDriver` (``self`` is the server)."""

    async def _emit_by_sid(
        self,
        event: str,
        args: tuple[Any, ...],
        *,
        to: Any,
        room: Any,
        skip_sid: Any,
        namespace: str | None,
        callback: Callable[..., Any] | None,
    ) -> None:
        """``server.emit`` with python-socketio's keywords (see its docstring)."""
        server = _driver(self)
        nsp = normalize_namespace(namespace or "/")
        target = _one_of("to", to, "room", room)
        skipped = () if skip_sid is None else normalize_rooms(skip_sid)
        if type(target) is str and target not in skipped:
            socket = server.get_socket(target, nsp)
            if socket is not None:
                # Through the socket: from a connect handler, the event waits for the CONNECT
                # reply, as python-socketio's emit to the sid of a client connecting does.
                if callback is None:
                    await socket.emit(event, *args)
                else:
                    self._emit_with_callback(socket, event, args, callback)
                return
        operator = server.of(nsp)
        if callback is not None:
            if type(target) is not str:
                raise LocalProtocolError(
                    "a callback needs one client: emit(..., to=sid, callback=...); for a room, "
                    "server.to(room).timeout(seconds).emit_with_ack(...)"
                )
            if target not in skipped and server.machine.engine.namespace(nsp).count_members(target):
                raise LocalProtocolError(
                    f"{target!r} is a room, not a client of this server: a callback needs one "
                    "client; for a room, server.to(room).timeout(seconds).emit_with_ack(...)"
                )
            return  # a client that has gone (or is skipped): no event, no answer
        if target is not None:
            operator = operator.to(target)
        if skipped:
            operator = operator.except_(skipped)
        await operator.emit(event, *args)

    def _emit_with_callback(
        self, socket: Socket, event: str, args: tuple[Any, ...], callback: Callable[..., Any]
    ) -> None:
        """Send now (in order with what is emitted next); wait for the answer in a task of
        its own, and call ``callback`` with its arguments."""
        server = _driver(self)
        if socket._early is not None:
            raise InvalidStateError(
                "the client is not connected yet: emit with a callback after the connect handler"
            )
        outputs = server.machine.emit_with_ack(
            socket.nsp,
            event,
            *args,
            now=server.now(),
            timeout=CALLBACK_TIMEOUT,
            sids=(socket.sid,),
            whole_response=True,
        )
        deliveries = outputs[0]  # the machine puts the engine's Deliveries first
        assert isinstance(deliveries, Deliveries) and deliveries.ack_id is not None
        waiter = server._new_waiter()
        server._ack_waiters[deliveries.ack_id] = waiter
        server._run(outputs)

        async def answered() -> None:
            completed = await waiter.wait()
            if not completed.responses:  # timed out, or the client had gone
                return
            try:
                await _call(callback, *completed.responses[0])
            except Exception:
                logger.exception(
                    "callback of event %r in %s failed (socket %s)", event, socket.nsp, socket.sid
                )

        server._spawn_background(answered())

    async def send(
        self,
        data: Any,
        *,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """``emit("message", data, ...)`` (python-socketio's ``send``; ``data`` is one
        argument)."""
        await self._emit_by_sid(
            "message",
            (data,),
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
        )

    async def call(
        self,
        event: str,
        *args: Any,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float = 60,
    ) -> Any:
        """Emit to the client ``to`` (or ``sid``) and wait for its answer: ``None`` for no
        argument, the argument for one, their tuple for several (python-socketio's
        ``call``). Raises :class:`AckTimeoutError` after ``timeout`` seconds, and at once for
        a sid that is not connected to this server (no answer can come; python-socketio
        waits for the timeout)."""
        from ._driver import AckTimeoutError

        target = _one_of("to", to, "sid", sid)
        if target is None:
            raise ValueError("call() waits for one client's answer: call(..., to=sid)")
        socket = _driver(self).get_socket(target, namespace or "/")
        if socket is None:
            raise AckTimeoutError(())
        answer = await socket.emit_with_ack(event, *args, timeout=timeout)
        if not answer:
            return None
        return answer[0] if len(answer) == 1 else answer

    def _socket(self, sid: str, namespace: str | None) -> Socket:
        nsp = normalize_namespace(namespace or "/")
        socket = _driver(self).get_socket(sid, nsp)
        if socket is None:
            raise UnknownSocketError(f"no client {sid!r} in namespace {nsp!r} on this server")
        return socket

    async def enter_room(
        self, sid: str, room: Iterable[Room] | Room, namespace: str | None = None
    ) -> None:
        """``sid`` joins ``room`` (or several). Raises :class:`UnknownSocketError` (a
        ``KeyError``) for a client not connected to this server: the membership could not
        hold (python-socketio records it for nobody). ``server.in_(sid).sockets_join(room)``
        reaches the clients of every server of a cluster."""
        self._socket(sid, namespace).join(room)

    async def leave_room(
        self, sid: str, room: Iterable[Room] | Room, namespace: str | None = None
    ) -> None:
        """``sid`` leaves ``room`` (or several). A client not connected here is in no room
        already: nothing happens."""
        socket = _driver(self).get_socket(sid, namespace or "/")
        if socket is not None:
            socket.leave(room)

    def rooms(self, sid: str, namespace: str | None = None) -> list[Room]:
        """The rooms of ``sid``, its own id room included, in the order it joined them;
        ``[]`` for a client not connected here (as python-socketio)."""
        server = _driver(self)
        socket = server.get_socket(sid, namespace or "/")
        if socket is None:
            return []
        return list(server.machine.engine.namespace(socket.nsp).rooms_of(sid))

    async def close_room(self, room: Room, namespace: str | None = None) -> None:
        """Every client leaves ``room`` (on every server of a cluster): Node's
        ``io.in(room).socketsLeave(room)``. An empty or unknown room: nothing happens."""
        operator = _driver(self).of(namespace or "/")
        await operator.in_(room).sockets_leave(room)

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect ``sid`` from the namespace (its connection stays open for the others).
        A client not connected here: nothing happens, unless the server is in a cluster and
        another server has it (that server disconnects it)."""
        server = _driver(self)
        nsp = namespace or "/"
        socket = server.get_socket(sid, nsp)
        if socket is not None:
            await socket.disconnect()
            return
        await server.of(nsp).in_(sid).disconnect_sockets()

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """The session of ``sid``: its socket's ``data`` dict (changes to it are kept).
        Raises :class:`UnknownSocketError` (a ``KeyError``, as python-socketio's) for a
        client not connected here."""
        return self._socket(sid, namespace).data

    async def save_session(
        self, sid: str, session: dict[str, Any], namespace: str | None = None
    ) -> None:
        """``session`` becomes the socket's ``data``. Raises :class:`UnknownSocketError` for
        a client not connected here."""
        self._socket(sid, namespace).data = session

    @asynccontextmanager
    async def session(
        self, sid: str, namespace: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``async with server.session(sid) as session:`` — the socket's ``data``, saved back
        on exit. Raises :class:`UnknownSocketError` on entry for a client not connected
        here; a client that leaves inside the block is no error."""
        socket = self._socket(sid, namespace)
        session = socket.data
        yield session
        socket.data = session

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``target(*args, **kwargs)`` (a coroutine function, or a plain one) in a task
        of the server's loop (trio: its nursery, so inside ``server.running()``). What it
        raises is logged. It does not hold up a graceful shutdown, and is cancelled at its
        end. Unlike python-socketio, no task object is returned (none both loops share)."""

        async def run() -> None:
            try:
                await _call(target, *args, **kwargs)
            except Exception:
                logger.exception("background task %r failed", target)

        _driver(self)._spawn_background(run())

    async def sleep(self, seconds: float = 0) -> None:
        """Sleep on the server's loop (python-socketio's ``sleep``)."""
        await _driver(self)._sleep(seconds)

    def _spawn_background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Start a task that a graceful shutdown does not wait for (a binding overrides it;
        by default, an ordinary task)."""
        _driver(self)._spawn(coroutine)
