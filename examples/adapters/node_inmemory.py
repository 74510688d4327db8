"""Node's in-memory adapter behind the testing kit's adapter protocol.

``node_inmemory.js`` runs socket.io-adapter 2.5's ``Adapter`` and socket.io 4.8's
``BroadcastOperator`` (their own code, from an ``npm install socket.io``) in a Node process;
this file talks to it over JSON lines. ``CheckNodeInMemory`` holds it to the reference
profile: that test is how the kit knows that ``REFERENCE`` is what Node does. Held to
``STRICT`` instead, it fails exactly on the switches that separate the two.

Node needs to find socket.io: ``SOCKETIO_NODE_MODULES`` names a ``node_modules`` directory
(default: this repository's tests/interop/node/node_modules).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sansio_rooms import Output, RoomCreated, RoomDeleted, RoomJoined, RoomLeft
from sansio_rooms.testing import REFERENCE, RoomsStateMachine

HERE = Path(__file__).resolve().parent
NODE_MODULES = Path(
    os.environ.get("SOCKETIO_NODE_MODULES", HERE.parent.parent / "tests/interop/node/node_modules")
)
NOTICES = {
    "create-room": lambda nsp, room, sid: RoomCreated(nsp=nsp, room=room),
    "join-room": lambda nsp, room, sid: RoomJoined(nsp=nsp, room=room, sid=sid),
    "leave-room": lambda nsp, room, sid: RoomLeft(nsp=nsp, room=room, sid=sid),
    "delete-room": lambda nsp, room, sid: RoomDeleted(nsp=nsp, room=room),
}


def available() -> bool:
    """Whether node and socket.io are installed where this adapter looks."""
    return shutil.which("node") is not None and (NODE_MODULES / "socket.io-adapter").is_dir()


class NodeProcess:
    """One Node process, shared by every adapter of a test session (each resets it)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["node", str(HERE / "node_inmemory.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        )
        atexit.register(self.close)

    def call(self, *message: object) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"node: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]
            self.process.wait(timeout=10)
            self.process.stdout.close()  # type: ignore[union-attr]


_process: NodeProcess | None = None


def node() -> NodeProcess:
    global _process
    if _process is None:
        _process = NodeProcess()
    return _process


def room_list(rooms: object) -> list[object]:
    """Rooms as TypeScript types them (string | number; a list is several): anything else is
    refused here, as the compiler would."""
    if isinstance(rooms, (str, int)) and not isinstance(rooms, bool):
        return [rooms]
    if isinstance(rooms, (bytes, bytearray, dict)) or not isinstance(rooms, Iterable):
        raise TypeError(f"not a room: {rooms!r}")
    names = list(rooms)
    for room in names:
        if not isinstance(room, (str, int)) or isinstance(room, bool):
            raise TypeError(f"not a room: {room!r}")
    return names


class NodeInMemoryAdapter:
    """The kit's adapter protocol over ``node_inmemory.js``. Rooms go to Node as an array
    (several) or bare (one), as a JavaScript caller writes them."""

    def __init__(self, process: NodeProcess) -> None:
        self.node = process
        self.node.call("reset", None)
        #: Sockets this host has a Socket object for (a gone one stays: Node ignores it).
        self.known: set[tuple[str, str]] = set()

    def _do(self, name: str, nsp: str, *args: object) -> Any:
        answer = self.node.call(name, nsp, *args)
        self.outputs += [NOTICES[kind](nsp, room, sid) for kind, room, sid in answer["notices"]]
        return answer["result"]

    def _on(self, name: str, nsp: str, sid: str, *args: object) -> list[Output]:
        if (nsp, sid) not in self.known:
            raise LookupError(f"this host has no socket {sid!r} in {nsp!r}")
        self.outputs: list[Output] = []
        self._do(name, nsp, sid, *args)
        return self.outputs

    def connect(self, nsp: str, sid: str, pending: bool = False) -> list[Output]:
        if type(sid) is not str or not sid:
            raise TypeError(f"a socket id is a non-empty string, not {sid!r}")
        self.known.add((nsp, sid))
        return self._on("connect", nsp, sid, pending)

    def connect_pending(self, nsp: str, sid: str) -> list[Output]:
        return self.connect(nsp, sid, pending=True)

    def accept(self, nsp: str, sid: str) -> list[Output]:
        return self._on("accept", nsp, sid)

    def refuse(self, nsp: str, sid: str) -> list[Output]:
        return self._on("refuse", nsp, sid)

    def join(self, nsp: str, sid: str, rooms: object) -> list[Output]:
        return self._on("join", nsp, sid, room_list(rooms))

    def leave(self, nsp: str, sid: str, rooms: object) -> list[Output]:
        names = room_list(rooms)  # socket.leave() takes one room: one call each
        self._on("leave", nsp, sid, None)
        for room in names:
            self._do("leave", nsp, sid, room)
        return self.outputs

    def begin_disconnect(self, nsp: str, sid: str) -> list[Output]:
        return self._on("begin_disconnect", nsp, sid)

    def finish_disconnect(self, nsp: str, sid: str) -> list[Output]:
        return self._on("finish_disconnect", nsp, sid)

    def disconnect(self, nsp: str, sid: str) -> list[Output]:
        return self._on("disconnect", nsp, sid)

    def _select(self, rooms: object, except_: object) -> tuple[object, object]:
        return (None if rooms is None else room_list(rooms)), room_list(except_)

    def broadcast(self, nsp: str, rooms: object, except_: object, sender: str | None) -> list[str]:
        self.outputs = []
        result: list[str] = self._do("select", nsp, *self._select(rooms, except_), sender)
        return result

    def members_of(self, nsp: str, rooms: object, except_: object, sids: object) -> list[str]:
        return self.broadcast(nsp, rooms, except_, None)

    def _bulk(self, name: str, nsp: str, *args: object) -> list[Output]:
        self.outputs = []
        self._do(name, nsp, *args)
        return self.outputs

    def sockets_join(self, nsp: str, join: object, rooms: object, except_: object, sids: object):  # type: ignore[no-untyped-def]
        return self._bulk("sockets_join", nsp, room_list(join), *self._select(rooms, except_))

    def sockets_leave(self, nsp: str, leave: object, rooms: object, except_: object, sids: object):  # type: ignore[no-untyped-def]
        return self._bulk("sockets_leave", nsp, room_list(leave), *self._select(rooms, except_))

    def disconnect_sockets(self, nsp: str, rooms: object, except_: object, sids: object):  # type: ignore[no-untyped-def]
        return self._bulk("disconnect_sockets", nsp, *self._select(rooms, except_))

    def close_room(self, nsp: str, room: object) -> list[Output]:
        (name,) = room_list([room])
        return self._bulk("close_room", nsp, name)

    def rooms(self, nsp: str) -> list[object]:
        return self._do("rooms", nsp)  # type: ignore[no-any-return]

    def members(self, nsp: str, room: object) -> list[str]:
        return self._do("members", nsp, room)  # type: ignore[no-any-return]

    def rooms_of(self, nsp: str, sid: str) -> list[object]:
        return self._do("rooms_of", nsp, sid)  # type: ignore[no-any-return]


class CheckNodeInMemory(RoomsStateMachine):
    """Node's adapter held to Socket.IO's reference semantics: it must pass."""

    semantics = REFERENCE
    refusals = "any"  # Node ignores calls on gone sockets; this host raises for unknown ones
    check_outputs = False  # no engine output values...
    supports_notices = True  # ...but the adapter's create/join/leave/delete-room events
    supports_states = False
    supports_sids = False  # selections are rooms and except rooms only
    supports_acks = False

    def make_adapter(self) -> NodeInMemoryAdapter:
        return NodeInMemoryAdapter(node())
