"""A user's own manager built on python-socketio's, checked with the same adapter.

``SafeManager`` is the kind of subclass an application writes once it knows python-socketio's
room defects (docs/testing.md lists what the kit finds): each fix is one method, and each can
be switched off (the ``fix_*`` attributes), which is how tests/test_kit_python_socketio.py
shows that the kit finds every defect on its own.
"""

from __future__ import annotations

from typing import Any

import socketio
from python_socketio import CheckManager, ManagerAdapter, each


class SafeManager(socketio.Manager):
    """python-socketio's Manager without its room defects."""

    fix_gone_join = True  # a join naming a gone socket leaves an empty room behind
    fix_none_room = True  # None is taken as a room (it is the "everybody" room)
    fix_falsy_target = True  # emit(to=0) or emit(to="") reaches everybody
    fix_atomic_join = True  # joining several rooms stops half-way when one is refused

    def _known(self, sid: str, namespace: str) -> bool:
        return sid in self.rooms.get(namespace, {}).get(None, {})

    def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        if self.fix_none_room and room is None:
            raise TypeError("None is not a room")
        if self.fix_gone_join and not self._known(sid, namespace):
            raise KeyError(sid)
        super().enter_room(sid, namespace, room, eio_sid=eio_sid)

    def enter_rooms(self, sid: str, namespace: str, rooms: Any) -> None:
        """Several rooms at once: all of them, or (when one is refused) none."""
        rooms = list(each(rooms))
        if self.fix_atomic_join:
            self._check(rooms)
            for room in rooms:
                if room != sid and self.is_sid_room(namespace, room):
                    raise ValueError("cannot enter a sid room")
        for room in rooms:
            self.enter_room(sid, namespace, room)

    def leave_rooms(self, sid: str, namespace: str, rooms: Any) -> None:
        rooms = list(each(rooms))
        if self.fix_atomic_join:
            self._check(rooms)
        for room in rooms:
            self.leave_room(sid, namespace, room)

    def _check(self, rooms: list[Any]) -> None:
        for room in rooms:
            hash(room)  # a list as a room name: TypeError before anything changes
            if self.fix_none_room and room is None:
                raise TypeError("None is not a room")

    def leave_room(self, sid: str, namespace: str, room: Any) -> None:
        if self.fix_none_room and room is None:
            raise TypeError("None is not a room")
        super().leave_room(sid, namespace, room)

    def close_room(self, room: Any, namespace: str) -> None:
        if self.fix_none_room and room is None:
            raise TypeError("None is not a room")
        super().close_room(room, namespace)

    def emit(self, event: str, data: Any, namespace: str, to: Any = None, **kwargs: Any) -> None:
        many = hasattr(to, "__len__") and not isinstance(to, str)
        if self.fix_none_room and many and None in to:
            raise TypeError("None is not a room")
        if self.fix_falsy_target and to is not None and not (many and len(to) == 0):
            kwargs["room"] = to  # read when `to` is falsy (0, ""): the room it names
        super().emit(event, data, namespace, to=to, **kwargs)


class SafeManagerAdapter(ManagerAdapter):
    """The same adapter; several rooms go through ``enter_rooms`` and ``leave_rooms``."""

    def join(self, nsp: str, sid: str, rooms: Any) -> None:
        self.manager.enter_rooms(sid, nsp, rooms)

    def leave(self, nsp: str, sid: str, rooms: Any) -> None:
        self.manager.leave_rooms(sid, nsp, rooms)


class CheckSafeManager(CheckManager):
    """Under the same declarations as python-socketio's own Manager, it passes."""

    manager_class: type[SafeManager] = SafeManager

    def make_adapter(self) -> ManagerAdapter:
        return SafeManagerAdapter(self.manager_class())
