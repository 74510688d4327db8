"""``to()/in_()/except_()/volatile/...``: the broadcast operator, immutable as in Socket.IO v4.

The selection itself (:class:`sansio_rooms.Selection`) is shared with the trio binding; this
class adds what needs the event loop: emitting, waiting for acknowledgements, and the bulk
operations on the selected sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sansio_rooms import Room, SansioRoomsError, Selection

if TYPE_CHECKING:
    from ._server import AsyncServer
    from ._socket import Socket

__all__ = ["AckTimeoutError", "BroadcastOperator"]


class AckTimeoutError(SansioRoomsError, TimeoutError):
    """Not every recipient answered in time. ``responses`` holds the answers that came
    (Socket.IO's "operation has timed out" with ``err.responses``)."""

    def __init__(self, responses: tuple[Any, ...]) -> None:
        super().__init__(f"operation has timed out ({len(responses)} responses)")
        self.responses = responses


class BroadcastOperator:
    """A selection of sockets of one namespace, and what to do with them."""

    __slots__ = ("_selection", "_server")

    def __init__(self, server: AsyncServer, selection: Selection) -> None:
        self._server = server
        self._selection = selection

    @property
    def selection(self) -> Selection:
        return self._selection

    def _with(self, selection: Selection) -> BroadcastOperator:
        return BroadcastOperator(self._server, selection)

    def to(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._with(self._selection.to(rooms))

    def in_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._with(self._selection.to(rooms))

    def except_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._with(self._selection.except_(rooms))

    def compress(self, value: bool) -> BroadcastOperator:
        return self._with(self._selection.compress(value))

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._with(self._selection.timeout(seconds))

    @property
    def volatile(self) -> BroadcastOperator:
        return self._with(self._selection.volatile)

    @property
    def local(self) -> BroadcastOperator:
        return self._with(self._selection.local)

    @property
    def broadcast(self) -> BroadcastOperator:
        return self

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to every selected socket, each once."""
        self._server._emit(self._selection, None, event, args)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send and wait for one answer per recipient (``.timeout(seconds)`` is required);
        returns the first argument of each answer, in arrival order. Raises
        :class:`AckTimeoutError` (with ``.responses``) if some did not answer in time."""
        responses = await self._server._emit_with_ack(
            self._selection, None, event, args, whole_response=False
        )
        return list(responses)

    def _selected(self) -> tuple[str, ...]:
        selection = self._selection
        namespace = self._server.machine.engine.namespace(selection.nsp)
        selected = namespace.members_of(selection.rooms, except_=selection.except_rooms)
        return tuple(sid for sid in selected if sid != selection.sender)

    async def fetch_sockets(self) -> list[Socket]:
        """The selected sockets (on this server)."""
        nsp = self._selection.nsp
        sockets = (self._server.get_socket(sid, nsp) for sid in self._selected())
        return [socket for socket in sockets if socket is not None]

    async def sockets_join(self, rooms: Iterable[Room] | Room) -> None:
        """Every selected socket joins ``rooms``."""
        namespace = self._server.machine.engine.namespace(self._selection.nsp)
        namespace.sockets_join(rooms, sids=self._selected())

    async def sockets_leave(self, rooms: Iterable[Room] | Room) -> None:
        """Every selected socket leaves ``rooms``."""
        namespace = self._server.machine.engine.namespace(self._selection.nsp)
        namespace.sockets_leave(rooms, sids=self._selected())

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every selected socket (``close``: their whole connections)."""
        server = self._server
        server._run(
            server.machine.disconnect_sockets(
                self._selection.nsp,
                server.now(),
                sids=self._selected(),
                close_connection=close,
            )
        )
