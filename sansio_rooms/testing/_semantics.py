"""Semantics profiles: Socket.IO's reference behaviour, this library's, and anything between.

Every place where this library deliberately differs from Socket.IO's in-memory adapter (Node,
socket.io 4.8 / socket.io-adapter 2.5) is one named switch of :class:`Semantics`. The
reference model runs under a profile; so does the state machine, so that a user can check an
adapter against "Socket.IO, except that an empty list of rooms reaches nobody" by naming the
one switch.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["REFERENCE", "STRICT", "Semantics"]

#: What each switch means, in the words of a failure report; also the order of the switches.
SWITCHES: Final[dict[str, str]] = {
    "empty_rooms_reach_everybody": "an explicit empty list of rooms reaches the whole namespace",
    "disconnecting_receive": "a disconnecting socket still receives broadcasts",
    "sender_excluded_by_id_room": (
        "the sender is excluded through its id room (not excluded once it left it)"
    ),
    "gone_sender_may_broadcast": (
        "a broadcast from a sender that is not (or no longer) a socket goes out, not refused"
    ),
    "id_rooms_open": (
        "any socket may join another socket's id room (join, sockets_join), and an id room "
        "may be closed"
    ),
    "new_id_may_name_a_room": (
        "a socket may connect under an id that is already a room's name: it joins that room"
    ),
    "disconnecting_may_join": "a disconnecting socket may still join rooms",
    "bulk_selects_disconnecting": (
        "sockets_join, sockets_leave and disconnect_sockets select disconnecting sockets too"
    ),
    "close_room_spares_pending": (
        "close_room is sockets_leave of the room's selection: pending members stay"
    ),
    "namespace_order_by_first_join": (
        "a whole-namespace broadcast reaches sockets in the order they first joined a room "
        "(a pending socket that joined rooms early comes early), not the order they connected"
    ),
}


@attrs.frozen(kw_only=True)
class Semantics:
    """A profile: one value per documented difference (see ``SWITCHES``).

    ``REFERENCE`` is Socket.IO's in-memory adapter, every switch on; ``STRICT`` is this
    library's engine, every switch off. ``REFERENCE.but(empty_rooms_reach_everybody=False)``
    is Socket.IO except for one switch.
    """

    name: str = "custom"
    empty_rooms_reach_everybody: bool = False
    disconnecting_receive: bool = False
    sender_excluded_by_id_room: bool = False
    gone_sender_may_broadcast: bool = False
    id_rooms_open: bool = False
    new_id_may_name_a_room: bool = False
    disconnecting_may_join: bool = False
    bulk_selects_disconnecting: bool = False
    close_room_spares_pending: bool = False
    namespace_order_by_first_join: bool = False

    def but(self, **switches: bool) -> Semantics:
        """This profile with some switches changed (its name says so)."""
        unknown = sorted(set(switches) - set(SWITCHES))
        if unknown:
            raise TypeError(
                f"no such switch: {', '.join(unknown)} (switches: {', '.join(SWITCHES)})"
            )
        changed = ", ".join(f"{key}={value}" for key, value in switches.items())
        return attrs.evolve(self, name=f"{self.name} but {changed}", **switches)

    def switches(self) -> dict[str, bool]:
        """Every switch and its value, in ``SWITCHES`` order."""
        return {key: getattr(self, key) for key in SWITCHES}

    def differences(self, other: Semantics) -> list[str]:
        """The switches on which two profiles differ."""
        return [key for key, value in self.switches().items() if getattr(other, key) != value]


#: Socket.IO's reference behaviour: Node's socket.io 4.8 with its in-memory adapter 2.5.
REFERENCE: Final = Semantics(name="reference", **dict.fromkeys(SWITCHES, True))
#: This library's semantics (docs/semantics.md): every difference decided the other way.
STRICT: Final = Semantics(name="strict")
