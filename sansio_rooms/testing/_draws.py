"""The argument strategies of the state machine, built once per machine class.

Building a strategy costs more than drawing from it, and a run takes tens of thousands of
steps: every rule draws from these prebuilt strategies, in one or two ``data.draw()`` calls,
and turns drawn indices into sockets that exist at that step (``pick``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TypeVar

import attrs
from hypothesis import strategies as st

from .._names import Room
from ._steps import Once
from ._strategies import INVALID_KINDS, invalid_room_names

__all__: list[str] = []

T = TypeVar("T")

#: Values that are not socket ids, for ``connect`` when refusals are checked.
INVALID_SIDS: tuple[object, ...] = ("", 7, b"a")

#: An index into whatever list of candidates the state offers at that step.
PICK = st.integers(0, 99)


@attrs.frozen
class Draws:
    """The strategies of one machine class, built once: building a strategy costs more than
    drawing from it, and a run takes tens of thousands of steps."""

    namespace: st.SearchStrategy[str]
    where: st.SearchStrategy[tuple[str, int]]
    population: st.SearchStrategy[int]
    connect: st.SearchStrategy[tuple[str, int, int]]
    answer: st.SearchStrategy[tuple[str, str]]
    rooms: st.SearchStrategy[object]
    target: st.SearchStrategy[object]
    except_: st.SearchStrategy[object]
    sids: st.SearchStrategy[list[str] | None]
    room: st.SearchStrategy[tuple[str, Room]]
    stray: st.SearchStrategy[tuple[str, str, object, int]]
    bad: st.SearchStrategy[tuple[str, str, int, object]]


def shaped(form: str, names: list[Room]) -> object:
    """Rooms as a person passes them: a bare room (for one), a list, a tuple, a set, an
    iterator (kept as ``Once`` so that a replay can build it again)."""
    if form == "one" and len(names) == 1:
        return names[0]
    if form == "tuple":
        return tuple(names)
    if form == "set":
        return set(names)
    if form == "iterator":
        return Once(tuple(names))
    return list(names)


STRAY_OPERATIONS = (
    "connect",
    "accept",
    "refuse",
    "join",
    "leave",
    "begin_disconnect",
    "finish_disconnect",
    "disconnect",
    "broadcast",
    "emit_with_ack",
)
BAD_ROOM_OPERATIONS = (
    "join",
    "leave",
    "broadcast",
    "broadcast except",
    "members_of",
    "sockets_join",
    "close_room",
)


@functools.cache
def draws(
    namespaces: tuple[str, ...],
    socket_ids: tuple[str, ...],
    room_names: tuple[Room, ...],
    forms: tuple[str, ...] = ("list",),
    invalid: tuple[str, ...] = INVALID_KINDS,
) -> Draws:
    namespace = st.sampled_from(namespaces)
    socket_id = st.sampled_from(socket_ids)
    # Socket ids are rooms too: targeting, excluding, joining them is part of the game. The
    # rooms that exist are always drawn from this pool, so it covers them.
    room = st.sampled_from(tuple(dict.fromkeys([*room_names, *socket_ids])))
    form = st.sampled_from(forms)

    def rooms(min_size: int) -> st.SearchStrategy[object]:
        many = st.builds(shaped, form, st.lists(room, min_size=min_size, max_size=3))
        # A bare room is how most calls are written: as likely as all the other shapes.
        return room | many if "one" in forms else many

    some_rooms = rooms(0)
    return Draws(
        namespace=namespace,
        where=st.tuples(namespace, PICK),
        population=st.integers(1, 6),
        connect=st.tuples(namespace, PICK, PICK),
        answer=st.tuples(namespace, socket_id),
        rooms=rooms(1),
        target=st.none() | some_rooms,
        except_=some_rooms,
        sids=st.none() | st.lists(socket_id, max_size=3),
        room=st.tuples(namespace, room),
        stray=st.tuples(
            st.sampled_from(STRAY_OPERATIONS),
            namespace,
            st.sampled_from([*socket_ids, *INVALID_SIDS]),
            PICK,
        ),
        bad=st.tuples(
            st.sampled_from(BAD_ROOM_OPERATIONS), namespace, PICK, invalid_room_names(invalid)
        ),
    )


def pick(candidates: Sequence[T], index: int) -> T:
    return candidates[index % len(candidates)]
