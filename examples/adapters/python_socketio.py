"""python-socketio's Manager and AsyncManager, checked by the testing kit.

``ManagerAdapter`` is the whole adapter: python-socketio's own calls, one per operation, and
a stand-in for the server a Manager reports to (ids, packets, sends). ``CheckManager`` holds
it to Socket.IO's reference semantics, except for two things python-socketio decided
otherwise on purpose: it protects id rooms (5.18), and ``skip_sid`` skips the sender itself.
docs/testing.md walks through what the kit finds (tests/test_kit_python_socketio.py).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import socketio
from socketio.packet import Packet

from sansio_rooms.testing import REFERENCE, RoomsStateMachine

# -- the adapter: 40 lines -----------------------------------------------------------------


def each(rooms: Any) -> Any:  # python-socketio's rule (get_participants): one room or several
    return rooms if hasattr(rooms, "__len__") and not isinstance(rooms, str) else [rooms]


class ManagerAdapter:
    # The adapter is also the server a Manager reports to: ids, packets, sends.
    packet_class, sent, eio = Packet, [], property(lambda self: self)

    def __init__(self, manager: Any = None) -> None:
        self.manager = manager or socketio.Manager()
        self.manager.set_server(self)

    def _send_eio_packet(self, eio_sid: str, packet: object) -> None:
        self.sent.append(eio_sid)

    def connect(self, nsp: str, sid: str) -> Any:
        self.generate_id = lambda: sid  # engine.io's id maker: the id the kit asks for
        return self.manager.connect(sid, nsp)  # the engine.io id is the socket id

    def join(self, nsp: str, sid: str, rooms: Any) -> None:
        for room in each(rooms):
            self.manager.enter_room(sid, nsp, room)

    def leave(self, nsp: str, sid: str, rooms: Any) -> None:
        for room in each(rooms):
            self.manager.leave_room(sid, nsp, room)

    def begin_disconnect(self, nsp: str, sid: str) -> None:
        self.manager.pre_disconnect(sid, nsp)

    def finish_disconnect(self, nsp: str, sid: str) -> None:
        if not self.manager.is_connected(sid, nsp):  # the server's order: pre_disconnect first
            self.manager.disconnect(sid, nsp)

    def disconnect(self, nsp: str, sid: str) -> None:
        if self.manager.is_connected(sid, nsp):
            self.manager.pre_disconnect(sid, nsp)
        self.manager.disconnect(sid, nsp)

    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> list[str]:
        self.sent = []
        self.manager.emit("event", None, nsp, to=rooms, skip_sid=sender)
        return self.sent

    def close_room(self, nsp: str, room: Any) -> None:
        self.manager.close_room(room, nsp)

    def rooms_of(self, nsp: str, sid: str) -> Any:
        return self.manager.get_rooms(sid, nsp)

    def rooms(self, nsp: str) -> list[Any]:
        return [room for room in self.manager.rooms.get(nsp, {}) if room is not None]

    def members(self, nsp: str, room: Any) -> list[str]:
        return [sid for sid, _ in self.manager.get_participants(nsp, room)]


# -- the check: what python-socketio does, declared -----------------------------------------


class CheckManager(RoomsStateMachine):
    """python-socketio's Manager against Socket.IO's reference semantics."""

    semantics = REFERENCE.but(id_rooms_open=False, sender_excluded_by_id_room=False)
    refusals = "any"  # it raises (KeyError, ValueError) for some misuse, ignores the rest
    room_forms = ("one", "list", "tuple")  # what emit(to=...) takes: a set is refused
    invalid_rooms = ("none", "nested")  # any other hashable value is a room, by design
    check_ids = False  # ids come from engine.io: always new, never empty
    socket_ids = ("a", "b", "c", "d", "e", "f", "g", "42")  # so: more of them
    unordered = ("rooms_of",)  # get_rooms() lists rooms in creation order, not join order
    check_outputs = False  # no output values, no room notices
    supports_pending = False
    supports_states = False
    supports_bulk = False  # close_room only: no sockets_join/leave, disconnect_sockets
    supports_except = False  # skip_sid skips sockets, not rooms
    supports_acks = False  # one ack per recipient, no aggregation

    def make_adapter(self) -> ManagerAdapter:
        return ManagerAdapter()


# -- the same for AsyncManager ---------------------------------------------------------------


class AsyncManagerAdapter(ManagerAdapter):
    """AsyncManager's coroutines, each run to completion on the adapter's own loop."""

    def __init__(self, manager: Any = None) -> None:
        self.loop = asyncio.new_event_loop()
        super().__init__(_Waiting(manager or socketio.AsyncManager(), self.loop))

    async def _send_eio_packet(self, eio_sid: str, packet: object) -> None:  # type: ignore[override]
        self.sent.append(eio_sid)

    def close(self) -> None:
        self.loop.close()


class _Waiting:
    """The manager, with every coroutine method awaited at once on ``loop``."""

    def __init__(self, manager: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.manager, self.loop = manager, loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.manager, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        return lambda *args, **kwargs: self.loop.run_until_complete(attribute(*args, **kwargs))


class CheckAsyncManager(CheckManager):
    """python-socketio's AsyncManager: the same semantics, the same findings."""

    def make_adapter(self) -> ManagerAdapter:
        return AsyncManagerAdapter()
