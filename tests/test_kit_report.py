"""The kit's machinery taken one piece at a time: steps as values, refusal styles,
capability declarations, consistency checks and reports (deterministic, traced: what the
random runs of test_testing_kit.py do untraced)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import find

from sansio_rooms import Output, RoomEngine, SocketState
from sansio_rooms.testing import (
    INVALID_KINDS,
    AdapterDefect,
    EngineAdapter,
    RoomsStateMachine,
    Step,
    invalid_room_names,
    op,
    replay,
)
from sansio_rooms.testing._report import _attempt, diff, snippet
from sansio_rooms.testing._steps import Once, fresh, source


def test_steps_print_as_python_that_builds_the_same_values() -> None:
    values: list[Any] = [
        float("nan"),
        float("-inf"),
        [1, "a"],
        ("r",),
        ("r", 0),
        {"r": 1},
        object(),
        Once(("r", 0)),
        {"x"},
    ]
    assert [source(value) for value in values] == [
        "float('nan')",
        "float('-inf')",
        "[1, 'a']",
        "('r',)",
        "('r', 0)",
        "{'r': 1}",
        "object()",
        "iter(['r', 0])",
        "{'x'}",
    ]
    assert math.isnan(eval(source(values[0])))
    assert Once(("r",)) == Once(("r",)) != ("r",)
    assert len({Once(("r",)), Once(("r",))}) == 1
    assert list(Once((1, 2))) == [1, 2]


def test_each_side_gets_its_own_copy_of_an_argument() -> None:
    rooms = ["r"]
    assert fresh(rooms) == rooms and fresh(rooms) is not rooms
    assert list(fresh(Once(("r",)))) == ["r"]  # type: ignore[call-overload]
    assert fresh("r") == "r"


def test_op_builds_steps_and_keeps_iterators_replayable() -> None:
    step = op.broadcast("/", rooms=iter(["r"]), sender="a")
    assert step == Step("broadcast", ("/", Once(("r",)), [], "a"))
    assert repr(step) == "broadcast('/', rooms=iter(['r']), except_=[], sender='a')"
    assert "join" in dir(op)
    with pytest.raises(AttributeError):
        op.shout  # noqa: B018
    with pytest.raises(TypeError, match="no such operation: shout"):
        Step("shout", ())
    with pytest.raises(TypeError, match=r"join\(\) takes nsp, sid, rooms"):
        Step("join", ("/",))


def test_invalid_room_names_by_kind() -> None:
    assert find(invalid_room_names(["bool"]), lambda value: True) is False
    with pytest.raises(ValueError, match="kinds must be some of"):
        invalid_room_names(["nan"])
    assert "none" in INVALID_KINDS


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("refusals", "loudly", "refusals must be one of"),
        ("room_forms", ("heap",), "room_forms must be some of"),
        ("room_forms", (), "room_forms must be some of"),
        ("unordered", ("everything",), "unordered must be some of"),
    ],
)
def test_declarations_are_checked(attribute: str, value: object, message: str) -> None:
    machine = type("Machine", (RoomsStateMachine,), {attribute: value})
    with pytest.raises(ValueError, match=message):
        machine()


def with_adapter(adapter: Any, **attributes: Any) -> type[RoomsStateMachine]:
    return type(
        "Machine", (RoomsStateMachine,), {"make_adapter": lambda self: adapter(), **attributes}
    )


class ReturnsFalse(EngineAdapter):
    """Refuses by returning False, as some APIs do."""

    def join(self, nsp: str, sid: str, rooms: Any) -> Any:
        try:
            return super().join(nsp, sid, rooms)
        except Exception:
            return False


class Ignores(EngineAdapter):
    def join(self, nsp: str, sid: str, rooms: Any) -> Any:
        try:
            return super().join(nsp, sid, rooms)
        except Exception:
            return []

    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> list[str]:
        try:
            return super().broadcast(nsp, rooms, except_, sender)
        except Exception:
            return ["a"] if sender == "zed" else []


GONE_JOIN = [op.connect("/", "a"), op.join("/", "zed", "r")]


def test_refusals_by_returning_a_value() -> None:
    replay(with_adapter(ReturnsFalse, refusals="return"), GONE_JOIN)
    replay(with_adapter(ReturnsFalse, refusals="any"), GONE_JOIN)
    with pytest.raises(AdapterDefect, match="signalled as a refusal value"):
        replay(with_adapter(EngineAdapter, refusals="return"), GONE_JOIN)
    accepted = [op.connect("/", "a"), op.join("/", "a", "r")]
    with pytest.raises(AdapterDefect) as raised:
        replay(
            with_adapter(ReturnsFalse, refusals="any", is_refusal=lambda self, r: True), accepted
        )
    assert str(raised.value.mismatch.actual).startswith("refused: returned [RoomCreated(")


def test_refusals_by_ignoring_the_call() -> None:
    replay(with_adapter(Ignores, refusals="ignore"), GONE_JOIN)
    with pytest.raises(AdapterDefect, match="signalled as doing nothing"):
        replay(with_adapter(EngineAdapter, refusals="ignore"), GONE_JOIN)
    with pytest.raises(AdapterDefect, match="accepted it silently"):
        replay(with_adapter(Ignores, refusals="raise"), GONE_JOIN)
    stray = [op.connect("/", "a"), op.broadcast("/", sender="zed")]
    with pytest.raises(AdapterDefect) as raised:
        replay(with_adapter(Ignores, refusals="ignore"), stray)
    assert raised.value.mismatch.actual == "reached ['a']"
    acks = [op.connect("/", "a"), op.emit_with_ack("/", None, [], "zed", 1)]
    replay(with_adapter(Ignores, refusals="any"), acks)  # the engine raises: fine for "any"


class Synchronous(EngineAdapter):
    """No disconnecting phase: disconnect_sockets finishes each disconnect too."""

    def disconnect_sockets(self, nsp: str, rooms: Any, except_: Any, sids: Any) -> list[Output]:
        outputs = super().disconnect_sockets(nsp, rooms, except_, sids)
        for order in list(outputs):
            outputs += self.finish_disconnect(nsp, order.sid)  # type: ignore[attr-defined]
        return outputs


def test_a_synchronous_disconnect_is_declared() -> None:
    machine = with_adapter(Synchronous, synchronous_disconnect=True)
    replay(machine, [op.connect("/", "a"), op.disconnect_sockets("/", None, [], None)])
    assert not machine()._may_call("begin_disconnect")


class NoticesOnly(EngineAdapter):
    def join(self, nsp: str, sid: str, rooms: Any) -> Any:
        return [*super().join(nsp, sid, rooms), "not a notice"]


class Closable(EngineAdapter):
    closed = 0

    def close(self) -> None:
        Closable.closed += 1


def test_notices_are_compared_without_the_other_outputs_and_adapters_are_closed() -> None:
    machine = with_adapter(Closable, check_outputs=False, supports_notices=True)
    replay(with_adapter(NoticesOnly, check_outputs=False, supports_notices=True), GONE_JOIN[:1])
    replay(machine, [op.connect("/", "a"), op.join("/", "a", ["r"])])
    assert Closable.closed == 1


class BrokenQueries(EngineAdapter):
    def rooms_of(self, nsp: str, sid: str) -> Any:
        raise KeyError(sid)


class EmptyRoom(EngineAdapter):
    def members(self, nsp: str, room: Any) -> Any:
        return () if room == "r" else super().members(nsp, room)


class Stranger(EngineAdapter):
    def members(self, nsp: str, room: Any) -> Any:
        return (*super().members(nsp, room), "zed")


class Unlisted(EngineAdapter):
    def rooms_of(self, nsp: str, sid: str) -> Any:
        return [room for room in super().rooms_of(nsp, sid) if room != "r"]


class Unmembered(EngineAdapter):
    def members(self, nsp: str, room: Any) -> Any:
        return [sid for sid in super().members(nsp, room) if room != "r"]

    def rooms(self, nsp: str) -> Any:
        return [room for room in super().rooms(nsp) if room != "r"]


class OddState(EngineAdapter):
    def state_of(self, nsp: str, sid: str) -> SocketState:
        return SocketState.PENDING


@pytest.mark.parametrize(
    ("adapter", "message"),
    [
        (BrokenQueries, r"rooms_of\('/', 'a'\) raised KeyError"),
        (EmptyRoom, "room 'r' is empty"),
        (Stranger, "'zed' is a member of 'a' but no socket"),
        (Unlisted, "which its rooms_of omits"),
        (Unmembered, "is not among its members"),
        (OddState, "After step 1: state"),
    ],
)
def test_the_state_checks_report_what_is_wrong(adapter: Any, message: str) -> None:
    with pytest.raises(AdapterDefect, match=message) as raised:
        replay(with_adapter(adapter), [op.connect("/", "a"), op.join("/", "a", "r")])
    assert raised.value.after


def test_state_differences_are_listed_leaf_by_leaf() -> None:
    expected = {"/": {"rooms": ["a"], "members": {"a": ["a"]}}}
    actual = {"/": {"rooms": ["a", "r"], "members": {"a": ["a"], "r": ["a"]}}, "x": 1}
    assert diff(expected, actual) == [
        "'/' rooms: expected ['a'], actual ['a', 'r']",
        "'/' members 'r': expected absent, actual ['a']",
        "'x': expected absent, actual 1",
    ]
    assert diff({"a": 1}, {}) == ["'a': expected 1, actual absent"]


def test_a_report_names_where_its_machine_lives() -> None:
    local = type("Local", (RoomsStateMachine,), {"__qualname__": "f.<locals>.Local"})
    assert snippet(local, [op.connect("/", "a")])[1] == (
        "# Local: the machine class of the failing check"
    )
    assert snippet(RoomsStateMachine, [])[1] == (
        "from sansio_rooms.testing._machine import RoomsStateMachine"
    )


class Crashes(EngineAdapter):
    def __init__(self) -> None:
        raise RuntimeError("no adapter today")


def test_shrinking_replays_stop_at_their_budget_and_at_other_failures() -> None:
    assert _attempt(RoomsStateMachine, [op.connect("/", "a")], [0]) is None
    assert _attempt(with_adapter(Crashes), [op.connect("/", "a")], [1]) is None
    assert _attempt(RoomsStateMachine, [op.connect("/", "a")], [1]) is None


def test_an_engine_with_ids_from_the_caller_only() -> None:
    machine = with_adapter(lambda: EngineAdapter(RoomEngine(notices=True)), check_ids=False)
    replay(machine, [op.connect("/", "a"), op.disconnect("/", "a")])
