"""Semantics profiles: each switch, on our engine and on Node's own in-memory adapter.

For every switch of ``Semantics`` a few steps on which Socket.IO and this library differ.
Node (examples/adapters/node_inmemory.py: socket.io-adapter 2.5 and socket.io 4.8's
BroadcastOperator, run by node) passes them under ``REFERENCE`` and fails them with that one
switch flipped; our engine passes them under ``STRICT`` and fails them with that switch
flipped; each failure names the switch. Random runs: Node passes ``REFERENCE``, and our
engine, under ``REFERENCE``, fails only in ways a switch explains.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sansio_rooms.testing import (
    REFERENCE,
    STRICT,
    AdapterDefect,
    RoomsStateMachine,
    Semantics,
    Step,
    check_adapter,
    op,
    replay,
)
from sansio_rooms.testing._semantics import SWITCHES

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "adapters"))

import node_inmemory  # noqa: E402

#: For each switch, steps on which its two values disagree.
CASES: dict[str, list[Step]] = {
    "empty_rooms_reach_everybody": [op.connect("/", "a"), op.broadcast("/", rooms=[])],
    "disconnecting_receive": [
        op.connect("/", "a"),
        op.begin_disconnect("/", "a"),
        op.broadcast("/", rooms=None),
    ],
    "sender_excluded_by_id_room": [
        op.connect("/", "a"),
        op.leave("/", "a", "a"),
        op.broadcast("/", rooms=None, sender="a"),
    ],
    "gone_sender_may_broadcast": [op.connect("/", "b"), op.broadcast("/", sender="a")],
    "id_rooms_open": [op.connect("/", "a"), op.connect("/", "b"), op.join("/", "b", "a")],
    "new_id_may_name_a_room": [op.connect("/", "a"), op.join("/", "a", "b"), op.connect("/", "b")],
    "disconnecting_may_join": [
        op.connect("/", "a"),
        op.begin_disconnect("/", "a"),
        op.join("/", "a", ["r"]),
    ],
    "bulk_selects_disconnecting": [
        op.connect("/", "a"),
        op.begin_disconnect("/", "a"),
        op.sockets_leave("/", "a", rooms=None),
    ],
    "close_room_spares_pending": [
        op.connect_pending("/", "c"),
        op.join("/", "c", "r"),
        op.close_room("/", "r"),
    ],
    "namespace_order_by_first_join": [
        op.connect_pending("/", "c"),
        op.join("/", "c", iter([])),
        op.connect("/", "b"),
        op.accept("/", "c"),
        op.broadcast("/", rooms=None),
    ],
}


def test_every_switch_has_a_case() -> None:
    assert list(CASES) == list(SWITCHES) == list(REFERENCE.switches())
    assert REFERENCE.differences(STRICT) == list(SWITCHES)


def test_profiles_say_what_they_are() -> None:
    mixed = REFERENCE.but(empty_rooms_reach_everybody=False)
    assert mixed.name == "reference but empty_rooms_reach_everybody=False"
    assert mixed.differences(REFERENCE) == ["empty_rooms_reach_everybody"]
    assert all(STRICT.switches()[key] is False for key in SWITCHES)
    with pytest.raises(TypeError, match="no such switch: sender_excluded"):
        STRICT.but(sender_excluded=True)


class Engine(RoomsStateMachine):
    refusals = "exact"


def under(machine: type[RoomsStateMachine], semantics: Semantics) -> type[RoomsStateMachine]:
    return type(machine.__name__, (machine,), {"semantics": semantics})


def assert_fails_on(machine: type[RoomsStateMachine], steps: list[Step], switch: str) -> None:
    with pytest.raises(AdapterDefect) as raised:
        replay(machine, steps)
    explained = [line.split("=")[0] for line in raised.value.explanations()]
    assert switch in explained, str(raised.value)


@pytest.mark.parametrize("switch", SWITCHES)
def test_our_engine_passes_strict_and_each_switch_is_named(switch: str) -> None:
    replay(Engine, CASES[switch])
    assert_fails_on(under(Engine, STRICT.but(**{switch: True})), CASES[switch], switch)


def test_our_engine_under_reference_fails_only_on_named_switches() -> None:
    for seed in range(3):
        with pytest.raises(AdapterDefect) as raised:
            check_adapter(under(Engine, REFERENCE), examples=100, seed=seed)
        assert raised.value.explanations(), str(raised.value)


node = pytest.mark.skipif(not node_inmemory.available(), reason="node and socket.io not installed")


@node
@pytest.mark.parametrize("switch", SWITCHES)
def test_node_passes_reference_and_each_switch_is_named(switch: str) -> None:
    machine = node_inmemory.CheckNodeInMemory
    replay(machine, CASES[switch])
    assert_fails_on(under(machine, REFERENCE.but(**{switch: False})), CASES[switch], switch)


@node
def test_node_agrees_with_the_reference_profile_on_random_runs() -> None:
    check_adapter(node_inmemory.CheckNodeInMemory, examples=300, seed=0)


@pytest.mark.parametrize("closes", [False, True])
def test_close_room_declared_apart_from_bulk_operations(closes: bool) -> None:
    """``supports_close_room`` set on its own wins over ``supports_bulk``: an adapter without
    bulk operations may still close rooms, and one with them may not."""
    machine = type(
        "Engine", (Engine,), {"supports_close_room": closes, "supports_bulk": not closes}
    )
    check_adapter(machine, examples=30, seed=0)
    assert machine.supports_close_room is closes
