"""The server-side socket handed to handlers: one client in one namespace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from sansio_rooms import Room, Selection

from ._operator import BroadcastOperator

if TYPE_CHECKING:
    from ._server import AsyncServer

__all__ = ["Handshake", "Socket"]


@attrs.frozen(kw_only=True)
class Handshake:
    """What the client sent to connect: the CONNECT ``auth`` payload and the Engine.IO
    session's query string."""

    auth: Any
    query: Mapping[str, str]


class Socket:
    """A client connected to a namespace: ``socket.sid``, ``socket.nsp``, ``socket.data``
    (yours), ``socket.handshake``, ``socket.rooms``; ``join``/``leave``; ``emit``;
    ``to()/except_()/broadcast`` (the sender excluded); ``disconnect``."""

    def __init__(
        self,
        server: AsyncServer,
        nsp: str,
        sid: str,
        eio_sid: str,
        auth: Any,
        query: Mapping[str, str],
    ) -> None:
        self.server = server
        self.nsp = nsp
        self.sid = sid
        self.eio_sid = eio_sid
        self.handshake = Handshake(auth=auth, query=query)
        self.data: dict[str, Any] = {}
        self.connected = False

    def __repr__(self) -> str:
        return f"<Socket {self.sid} of {self.nsp}>"

    @property
    def _namespace(self) -> Any:
        return self.server.machine.engine.namespace(self.nsp)

    @property
    def rooms(self) -> frozenset[Room]:
        """The rooms of the socket (its id room included); empty once it is disconnected."""
        try:
            return frozenset(self._namespace.rooms_of(self.sid))
        except KeyError:
            return frozenset()

    def join(self, rooms: Iterable[Room] | Room) -> None:
        """Join one room or several. Raises once the socket has disconnected."""
        self._namespace.join(self.sid, rooms)

    def leave(self, rooms: Iterable[Room] | Room) -> None:
        """Leave one room or several; a room not joined is a no-op."""
        self._namespace.leave(self.sid, rooms)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to this client."""
        self.server._emit(Selection(nsp=self.nsp), (self.sid,), event, args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float) -> tuple[Any, ...]:
        """Send and wait for the client's answer: the tuple of its arguments. Raises
        :class:`AckTimeoutError` after ``timeout`` seconds."""
        selection = Selection(nsp=self.nsp).timeout(timeout)
        responses = await self.server._emit_with_ack(
            selection, (self.sid,), event, args, whole_response=True
        )
        answer: tuple[Any, ...] = responses[0]
        return answer

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.server, Selection(nsp=self.nsp, sender=self.sid))

    def to(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        """Broadcast to these rooms, never to this socket."""
        return self._operator().to(rooms)

    def in_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._operator().to(rooms)

    def except_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._operator().except_(rooms)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Everyone in the namespace but this socket."""
        return self._operator()

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket (``close``: the whole connection, every namespace)."""
        server = self.server
        if not self.connected:
            return
        server._run(
            server.machine.disconnect(self.nsp, self.sid, server.now(), close_connection=close)
        )
