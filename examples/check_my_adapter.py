"""Check your own room keeper against sansio-rooms' reference semantics.

``SetRooms`` below stands for *your* code: the kind of adapter people write in an afternoon,
a dict of sets per namespace. ``CheckSetRooms`` points the testing kit's state machine at it:
hypothesis then runs thousands of random sequences of connects, joins, leaves, broadcasts and
two-phase disconnects against it and against the reference model, compares every answer, and
shrinks any disagreement to a short list of steps.

Run it (hypothesis needed; from a checkout: ``pip install -e '.[testing]'``)::

    python examples/check_my_adapter.py

Try breaking ``SetRooms`` — say, drop the ``rooms is None`` test in ``broadcast`` so that an
empty list of rooms means everybody, as it does in python-socketio and Node — and run it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from sansio_rooms import Room
from sansio_rooms.testing import RoomsStateMachine


def as_list(rooms: Any) -> list[Room]:
    """Rooms as people pass them: one room (``"lobby"``, ``0``) or any iterable of rooms."""
    return [rooms] if isinstance(rooms, (str, int)) else list(rooms)


class SetRooms:
    """Rooms as plain sets: room -> members and socket -> rooms, per namespace."""

    def __init__(self) -> None:
        self.members_by_room: dict[str, dict[Room, set[str]]] = {}
        self.rooms_by_sid: dict[str, dict[str, set[Room]]] = {}
        self.receiving: dict[str, set[str]] = {}

    def _space(self, nsp: str) -> tuple[dict[Room, set[str]], dict[str, set[Room]], set[str]]:
        return (
            self.members_by_room.setdefault(nsp, {}),
            self.rooms_by_sid.setdefault(nsp, {}),
            self.receiving.setdefault(nsp, set()),
        )

    def connect(self, nsp: str, sid: str) -> None:
        _, rooms_by_sid, receiving = self._space(nsp)
        rooms_by_sid[sid] = set()
        receiving.add(sid)
        self.join(nsp, sid, [sid])  # every socket is in the room named after its id

    def join(self, nsp: str, sid: str, rooms: Any) -> None:
        members_by_room, rooms_by_sid, _ = self._space(nsp)
        for room in as_list(rooms):
            members_by_room.setdefault(room, set()).add(sid)
            rooms_by_sid[sid].add(room)

    def leave(self, nsp: str, sid: str, rooms: Any) -> None:
        members_by_room, rooms_by_sid, _ = self._space(nsp)
        for room in as_list(rooms):
            if room in rooms_by_sid[sid]:
                rooms_by_sid[sid].discard(room)
                members_by_room[room].discard(sid)
                if not members_by_room[room]:
                    del members_by_room[room]  # no empty room is left behind

    def begin_disconnect(self, nsp: str, sid: str) -> None:
        self._space(nsp)[2].discard(sid)  # rooms intact, but it no longer receives

    def finish_disconnect(self, nsp: str, sid: str) -> None:
        self.leave(nsp, sid, list(self.rooms_by_sid[nsp][sid]))
        del self.rooms_by_sid[nsp][sid]

    def disconnect(self, nsp: str, sid: str) -> None:
        self.begin_disconnect(nsp, sid)
        self.finish_disconnect(nsp, sid)

    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> Iterable[str]:
        members_by_room, _, receiving = self._space(nsp)
        if rooms is None:
            targets = set(receiving)
        else:
            targets = set().union(*(members_by_room.get(room, set()) for room in as_list(rooms)))
        for room in as_list(except_):
            targets -= members_by_room.get(room, set())
        targets.discard(sender)
        return targets & receiving

    def rooms_of(self, nsp: str, sid: str) -> Iterable[Room]:
        return self._space(nsp)[1][sid]

    def rooms(self, nsp: str) -> Iterable[Room]:
        return self._space(nsp)[0].keys()

    def members(self, nsp: str, room: Room) -> Iterable[str]:
        return self._space(nsp)[0].get(room, set())


class CheckSetRooms(RoomsStateMachine):
    """The state machine, told what SetRooms does and does not do."""

    check_order = False  # sets have no order: compare recipients and rooms as sets
    check_errors = False  # SetRooms trusts its caller: only legal operations are tried
    check_outputs = False  # it returns nothing to compare with the engine's outputs
    supports_pending = False  # no accept/refuse
    supports_states = False  # no state_of()/sockets()
    supports_bulk = False  # no sockets_join/leave, disconnect_sockets, close_room
    supports_acks = False  # no broadcast acknowledgements

    def make_adapter(self) -> SetRooms:
        return SetRooms()


def main(runs: int = 300) -> None:
    run_state_machine_as_test(
        CheckSetRooms,
        settings=settings(max_examples=runs, stateful_step_count=30, deadline=None),
    )
    print(f"SetRooms passed: {runs} random runs agree with the reference semantics")


if __name__ == "__main__":
    main()
