"""Room and namespace names: what is accepted, how it is normalised, what is refused."""

from __future__ import annotations

import enum
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_rooms import (
    InvalidRoomError,
    LocalProtocolError,
    Room,
    RoomsArg,
    normalize_namespace,
    normalize_room,
    normalize_rooms,
)


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    TOP = 7


class Name(str):
    """A plain str subclass (not an enum)."""


class Number(int):
    pass


def test_type_aliases() -> None:
    assert Room == str | int
    assert str in RoomsArg.__args__  # type: ignore[attr-defined]


# -- normalize_room -----------------------------------------------------------------------------


@pytest.mark.parametrize("room", ["room", "", "42", "é ☃", 0, 42, -1, 2**80])
def test_plain_str_and_int_are_kept_as_they_are(room: Room) -> None:
    assert normalize_room(room) is room


@pytest.mark.parametrize(
    ("room", "plain"),
    [(Color.RED, "red"), (Level.TOP, 7), (Name("n"), "n"), (Number(5), 5)],
    ids=["StrEnum", "IntEnum", "str-subclass", "int-subclass"],
)
def test_subclasses_are_stored_as_the_plain_value(room: Any, plain: Room) -> None:
    normalized = normalize_room(room)
    assert normalized == plain
    assert type(normalized) is type(plain)
    assert hash(normalized) == hash(plain)


def test_str_and_int_stay_distinct() -> None:
    assert normalize_room("42") != normalize_room(42)
    assert normalize_rooms(["42", 42]) == ("42", 42)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        True,
        False,
        1.0,
        1.5,
        b"room",
        bytearray(b"r"),
        ["room"],
        ("room",),
        {"r": 1},
        object(),
    ],
    ids=lambda v: type(v).__name__,
)
def test_anything_else_is_not_a_room(bad: Any) -> None:
    with pytest.raises(InvalidRoomError, match="a room name must be a str or an int") as info:
        normalize_room(bad)
    assert type(bad).__name__ in str(info.value)
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, LocalProtocolError)


# -- normalize_rooms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rooms", "expected"),
    [
        ("room", ("room",)),
        ("", ("",)),
        (42, (42,)),
        (Color.RED, ("red",)),
        (Level.TOP, (7,)),
        (Name("n"), ("n",)),
        (["b", "a", "b"], ("b", "a")),
        (("b", "a", "a"), ("b", "a")),
        (["a", 1, "1", 1], ("a", 1, "1")),
        ([Color.RED, "red", Color.BLUE], ("red", "blue")),
        ([Level.TOP, 7], (7,)),
        ([], ()),
        ((), ()),
        (iter(["x", "y"]), ("x", "y")),
        ((r for r in [3, 1, 3]), (3, 1)),
        ({"k": 0, "j": 0}.keys(), ("k", "j")),
        (frozenset(["only"]), ("only",)),
        (range(3), (0, 1, 2)),
    ],
    ids=lambda v: type(v).__name__,
)
def test_one_room_or_an_iterable_becomes_a_tuple_in_order_without_duplicates(
    rooms: Any, expected: tuple[Room, ...]
) -> None:
    result = normalize_rooms(rooms)
    assert result == expected
    assert type(result) is tuple
    assert [type(room) for room in result] == [type(room) for room in expected]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        True,
        1.5,
        b"room",
        bytearray(b"room"),
        memoryview(b"room"),
        {"room": 1},
        object(),
        [None],
        ["ok", None],
        ("ok", 1.5),
        ["ok", True],
        [["nested"]],
        [("nested",)],
        [b"room"],
        (r for r in ["ok", None]),
    ],
    # Stable ids (pytest-xdist's workers must collect the same names): no memory address.
    ids=lambda v: re.sub(r" at 0x[0-9a-f]+", "", repr(v))[:20],
)
def test_bad_rooms_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidRoomError):
        normalize_rooms(bad)


def test_the_error_names_what_was_given() -> None:
    with pytest.raises(InvalidRoomError, match=r"not NoneType \(None\)"):
        normalize_rooms(None)
    with pytest.raises(InvalidRoomError, match=r"not bytes \(b'x'\)"):
        normalize_rooms(b"x")
    with pytest.raises(InvalidRoomError, match=r"not float \(1.5\)"):
        normalize_rooms(["ok", 1.5])


@given(st.lists(st.one_of(st.text(max_size=3), st.integers(-3, 3))))
def test_normalize_rooms_is_dict_fromkeys_of_plain_names(rooms: list[Room]) -> None:
    expected = tuple(dict.fromkeys(rooms))
    assert normalize_rooms(rooms) == expected
    assert normalize_rooms(tuple(rooms)) == expected
    assert normalize_rooms(iter(rooms)) == expected
    # Normalising is idempotent.
    assert normalize_rooms(expected) == expected


# -- normalize_namespace ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("", "/"), ("/", "/"), ("chat", "/chat"), ("/chat", "/chat"), ("a/b", "/a/b")],
)
def test_namespace_names_are_normalised_as_io_of_does(name: str, expected: str) -> None:
    assert normalize_namespace(name) == expected


def test_namespace_subclass_becomes_a_plain_str() -> None:
    result = normalize_namespace(Name("chat"))
    assert result == "/chat" and type(result) is str
    result = normalize_namespace(Name("/chat"))
    assert result == "/chat" and type(result) is str


@pytest.mark.parametrize("bad", [None, 42, b"/chat", ["/"]], ids=lambda v: type(v).__name__)
def test_namespace_names_must_be_str(bad: Any) -> None:
    with pytest.raises(LocalProtocolError, match="namespace name must be a str"):
        normalize_namespace(bad)
