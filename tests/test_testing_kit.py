"""The testing kit itself: its exports, its strategies, the state machine run against our
engine (the long run of ``make test``), the machine walked step by step, the machine
catching broken adapters, and the harness.

The reference model's own rules, and the engine and the model in lockstep over generated
event sequences: test_model_properties.py.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import subprocess
import sys
import typing
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import coverage
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis.stateful import run_state_machine_as_test

import sansio_rooms
import sansio_rooms.testing as kit
from sansio_rooms import (
    AckCompleted,
    Connected,
    Deliveries,
    Emit,
    InvalidRoomError,
    Join,
    Output,
    Room,
    RoomCreated,
    RoomDeleted,
    RoomEngine,
    RoomJoined,
    RoomLeft,
    SocketDisconnected,
    SocketDisconnecting,
    SocketState,
    UnknownSocketError,
    normalize_namespace,
    normalize_room,
    normalize_rooms,
)
from sansio_rooms.testing import (
    DEFAULT_REASON,
    AdapterDefect,
    EngineAdapter,
    Harness,
    RoomsStateMachine,
    events,
    invalid_room_names,
    namespaces,
    op,
    operation_sequences,
    room_names,
    sequential_ids,
    socket_ids,
)
from sansio_rooms.testing._steps import Once

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "sansio_rooms" / "testing"
#: The names of every event value: the members of the ``Event`` union.
EVENT_TYPES = {kind.__name__ for kind in typing.get_args(sansio_rooms.Event)}

#: How the long run of the state machine against our engine is configured: 2,000 runs of up
#: to 30 steps, the bulk of this file's time.
LONG_RUN = settings(max_examples=2000, stateful_step_count=30, deadline=None)
#: For the machine's own tests: a failure is expected within a few dozen runs (the cap is
#: only reached if a broken adapter goes unnoticed), and shrinking it would only cost time.
QUICK = settings(
    max_examples=1000,
    stateful_step_count=30,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
#: For the short random runs that must pass (the step-by-step tests take every branch).
PASSING = settings(QUICK, max_examples=60)


# -- the package surface -------------------------------------------------------------------


def test_importing_sansio_rooms_does_not_import_hypothesis() -> None:
    code = (
        "import sys, sansio_rooms\n"
        "assert 'hypothesis' not in sys.modules, 'sansio_rooms imported hypothesis'\n"
        "import sansio_rooms.testing\n"
        "assert 'hypothesis' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_exports_are_the_private_modules_all_and_each_is_documented() -> None:
    tree = ast.parse((KIT / "__init__.py").read_text(encoding="utf-8"))
    imported: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            assert node.level == 1 and node.module
            # "from ._x import Name as Name": the explicit re-export form.
            assert all(alias.asname == alias.name for alias in node.names)
            imported.setdefault(node.module, set()).update(a.name for a in node.names)
    for path in KIT.glob("_[!_]*.py"):
        module = importlib.import_module(f"sansio_rooms.testing.{path.stem}")
        assert path.stem in imported or not getattr(module, "__all__", None), path.stem
    for name, names in imported.items():
        module = importlib.import_module(f"sansio_rooms.testing.{name}")
        assert names == set(module.__all__), f"{name} is not re-exported in full"
    assert sorted(kit.__all__) == sorted(set().union(*imported.values()))
    docs = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    missing = [name for name in kit.__all__ if f"`{name}" not in docs]
    assert missing == []


# -- strategies ----------------------------------------------------------------------------


@given(invalid_room_names())
def test_invalid_room_names_are_refused_everywhere_and_change_nothing(value: object) -> None:
    with pytest.raises(InvalidRoomError):
        normalize_room(value)
    with pytest.raises(InvalidRoomError):
        normalize_rooms(value)
    with pytest.raises(InvalidRoomError):
        Join(sid="a", rooms=value)  # type: ignore[arg-type]
    engine = RoomEngine()
    nsp = engine.namespace()
    nsp.connect("a")
    with pytest.raises(InvalidRoomError):
        nsp.join("a", value)  # type: ignore[arg-type]
    with pytest.raises(InvalidRoomError):
        nsp.emit("x", except_=value)  # type: ignore[arg-type]
    assert nsp.rooms() == ("a",)
    assert nsp.rooms_of("a") == ("a",)


@given(room_names(), socket_ids(), namespaces())
def test_valid_names_are_accepted_as_they_are(room: Room, sid: str, name: str) -> None:
    assert type(room) in (str, int)
    assert normalize_room(room) == room
    assert type(sid) is str and sid
    assert normalize_namespace(name) in ("/", "/chat")
    engine = RoomEngine()
    engine.namespace(name).connect(sid)
    engine.namespace(name).join(sid, room)
    assert room in engine.namespace(name).rooms_of(sid)


def test_room_names_mix_42_and_the_string_42() -> None:
    assert find(room_names(), lambda r: r == 42) == 42
    assert find(room_names(), lambda r: r == "42") == "42"
    assert find(socket_ids(), lambda s: s == "42") == "42"


@given(events())
def test_events_are_event_values(event: object) -> None:
    assert type(event).__name__ in sansio_rooms.__all__
    assert type(event).__module__ == "sansio_rooms._events"


@settings(max_examples=50)
@given(operation_sequences(min_size=3, max_size=12))
def test_operation_sequences_respect_their_bounds(sequence: list[Any]) -> None:
    assert 3 <= len(sequence) <= 12
    assert all(type(event).__module__ == "sansio_rooms._events" for event in sequence)


def test_events_reach_every_event_type() -> None:
    seen: set[str] = set()

    @settings(max_examples=400, database=None)
    @given(events())
    def collect(event: object) -> None:
        seen.add(type(event).__name__)

    collect()
    assert seen == EVENT_TYPES


# -- the state machine against our engine --------------------------------------------------


@pytest.fixture
def untraced() -> Iterator[None]:
    """Pause coverage's tracer during the test (coverage supports stop/start cycles).

    For the random runs of the machine: traced line by line, its steps take three times as
    long, and what the kit's code does in them is covered, deterministically, by the
    step-by-step tests below (they take every branch of the machine).
    """
    current = coverage.Coverage.current()
    if current is not None:
        current.stop()
    try:
        yield
    finally:
        if current is not None:
            current.start()


@pytest.mark.usefixtures("untraced")
def test_the_engine_agrees_with_the_reference_model() -> None:
    """The long run: every rule, every check, thousands of random sequences."""
    run_state_machine_as_test(RoomsStateMachine, settings=LONG_RUN)


class RelaxedEngineMachine(RoomsStateMachine):
    """Our engine, seen through the smallest protocol with refusals still checked: the
    paths a user's relaxed subclass takes."""

    check_order = False
    check_outputs = False
    supports_pending = False
    supports_states = False
    supports_bulk = False
    supports_acks = False


@pytest.mark.usefixtures("untraced")
def test_a_relaxed_machine_still_checks_refusals() -> None:
    run_state_machine_as_test(RelaxedEngineMachine, settings=PASSING)


class OtherPools(RoomsStateMachine):
    """Pools are class attributes; these make ints of socket-like names and one namespace."""

    namespaces = ("/admin",)
    socket_ids = ("x", "y", "7")
    room_names = (7, "7", "", "x")


@pytest.mark.usefixtures("untraced")
def test_the_pools_can_be_changed() -> None:
    run_state_machine_as_test(OtherPools, settings=PASSING)


def test_the_example_adapter_passes(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "examples" / "check_my_adapter.py"
    spec = importlib.util.spec_from_file_location("check_my_adapter", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(runs=50)
    assert capsys.readouterr().out == (
        "SetRooms passed: 50 random runs agree with the reference semantics\n"
    )


# -- the machine, step by step ------------------------------------------------------------


class Scripted:
    """Stands for hypothesis's data object when a rule is called by hand: each draw() returns
    the next of the given values, so that a test walks the machine through chosen steps."""

    def __init__(self, *values: object) -> None:
        self.values = list(values)

    def draw(self, strategy: object, label: object = None) -> Any:
        return self.values.pop(0)


def step(machine: RoomsStateMachine, rule: str, *values: object, **arguments: Any) -> None:
    """Call one rule with scripted draws, then the invariant, as a run does."""
    data = Scripted(*values)
    if values or "data" in inspect.signature(getattr(machine, rule)).parameters:
        arguments["data"] = data
    getattr(machine, rule)(**arguments)
    assert data.values == [], "a scripted value was not drawn"
    machine.matches_the_model()


class ScriptedMachine(RoomsStateMachine):
    # Pools of its own, so that its argument strategies are built here, traced.
    socket_ids = ("a", "b", "c")
    room_names = ("r", 42)


def test_every_rule_step_by_step_on_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[str] = []
    monkeypatch.setattr(RoomsStateMachine, "_note", lambda self, outcome: outcomes.append(outcome))
    machine = ScriptedMachine()
    model = machine.model
    step(machine, "populate", 2, ("/", 0, 0), ("/", 0, 99))  # a, and b pending
    assert [(sid, model.state_of("/", sid)) for sid in model.sockets("/")] == [
        ("a", SocketState.CONNECTED),
        ("b", SocketState.PENDING),
    ]
    step(machine, "connect", ("/", 5, 0))  # c
    step(machine, "connect", ("/", 0, 0))  # no id left in "/": nothing to do
    step(machine, "accept_or_refuse", index=0, accept=True)
    step(machine, "join", ["r", 42, "r"], index=0)
    step(machine, "join", ("a",), index=1)  # b may not join a's id room: refused
    step(machine, "leave", index=0)  # rooms a is in
    step(machine, "leave", {"r"}, index=1)
    assert model.rooms_of("/", "a") == [42]
    step(machine, "broadcast", ("/", 1), 42, ["b"])  # sent by a
    step(machine, "broadcast", ("/", 0), None, "c")
    step(machine, "members_of", ("/", 0), ["c", "a", "zed"], [], [])
    step(machine, "sockets_join_or_leave", "r", ("/", 0), None, None, ["b"], leave=False)
    step(machine, "sockets_join_or_leave", ["r"], ("/", 0), ["b"], [], [], leave=True)
    assert model.members("/", "r") == ["a", "c"]
    step(machine, "disconnect_sockets", ("/", 0), None, ["c"], [])
    assert model.state_of("/", "c") is SocketState.DISCONNECTING
    step(machine, "finish_disconnect", index=0)
    step(machine, "begin_disconnect", index=1)  # b
    step(machine, "disconnect", index=1)  # b, disconnecting: finishes
    step(machine, "close_room", ("/", "r"))  # a leaves it
    assert model.rooms("/") == [42]  # a left its id room earlier
    step(machine, "close_room", ("/", "a"))  # an id room: refused
    assert model.sockets("/") == ["a"]
    step(machine, "connect", ("/chat", 0, 99))  # a, pending, in /chat
    step(machine, "accept_or_refuse", index=0, accept=False)
    assert model.sockets("/chat") == []

    # What must be refused: each class, from the model, with nothing changed.
    step(machine, "stray_socket", ("connect", "/", "a", 0))  # a duplicate id
    step(machine, "stray_socket", ("connect", "/", "", 0))  # not an id
    step(machine, "stray_socket", ("accept", "/", 7, 2))  # not an id: only connect tries it
    step(machine, "stray_socket", ("refuse", "/", "c", 1))  # a, which is not pending
    step(machine, "stray_socket", ("join", "/", "c", 0), ["r"])  # c is gone
    step(machine, "stray_socket", ("broadcast", "/", "c", 0), None)
    step(machine, "stray_socket", ("emit_with_ack", "/", "c", 0), ["r"])
    step(machine, "stray_socket", ("finish_disconnect", "/", "b", 0))
    step(machine, "bad_rooms", ("join", "/", 0, None))
    step(machine, "bad_rooms", ("leave", "/", 0, [b"r"]))
    step(machine, "bad_rooms", ("broadcast", "/", 0, 1.5))
    step(machine, "bad_rooms", ("broadcast except", "/", 0, [None]))
    step(machine, "bad_rooms", ("members_of", "/", 0, {"r": 1}))
    step(machine, "bad_rooms", ("sockets_join", "/", 0, [["r"]]))
    step(machine, "bad_rooms", ("close_room", "/", 0, True))

    # Acknowledgements, time driven by the rules.
    step(machine, "connect", ("/", 0, 0))  # b again
    step(machine, "emit_with_ack", ("/", 0), None, [], timeout=10)
    step(machine, "emit_with_ack", ("/", 0), Once(()), (), timeout=1)  # nobody: at once
    assert model.pending_acks() == {0: ("/", ["a", "b"])}
    step(machine, "ack", index=0, response=1)  # a answers
    step(machine, "ack", ("/chat", "b"), index=90, response=2)  # the wrong namespace
    step(machine, "advance", seconds=3)
    step(machine, "ack", index=0, response=3)  # b answers: complete
    step(machine, "emit_with_ack", ("/", 0), "b", [], timeout=1)
    step(machine, "advance", seconds=1)  # timed out
    step(machine, "ack", ("/", "b"), index=99, response=4)  # late
    assert model.pending_acks() == {}
    assert machine.ack_ids == {0: 0, 1: 1, 2: 2}
    step(machine, "bad_rooms", ("leave", "/", 0, None))
    step(machine, "disconnect", index=0)
    step(machine, "disconnect", index=0)
    step(machine, "bad_rooms", ("join", "/", 0, None))  # nobody left to join anything
    # How the machine classed each operation: run, or refused by the model (and the adapter).
    assert outcomes == [
        "connect: ok",
        "connect_pending: ok",
        "connect: ok",
        "accept: ok",
        "join: ok",
        "join: LocalProtocolError",
        *["leave: ok"] * 2,
        *["broadcast: ok"] * 2,
        "members_of: ok",
        "sockets_join: ok",
        "sockets_leave: ok",
        "disconnect_sockets: ok",
        "finish_disconnect: ok",
        "begin_disconnect: ok",
        "disconnect: ok",
        "close_room: ok",
        "close_room: LocalProtocolError",
        "connect_pending: ok",
        "refuse: ok",
        "connect: DuplicateSocketError",
        "connect: LocalProtocolError",
        "refuse: InvalidStateError",
        "join: UnknownSocketError",
        "broadcast: UnknownSocketError",
        "emit_with_ack: UnknownSocketError",
        "finish_disconnect: UnknownSocketError",
        "join: InvalidRoomError",
        "leave: InvalidRoomError",
        *["broadcast: InvalidRoomError"] * 2,
        "members_of: InvalidRoomError",
        "sockets_join: InvalidRoomError",
        "close_room: InvalidRoomError",
        "connect: ok",
        *["emit_with_ack: ok"] * 3,
        "leave: InvalidRoomError",
        *["disconnect: ok"] * 2,
    ]
    assert [str(s) for s in machine.steps[:3]] == [
        "connect('/', 'a')",
        "connect_pending('/', 'b')",
        "connect('/', 'c')",
    ]


class ScriptedSetRooms(RoomsStateMachine):
    """The smallest protocol, unordered, refusals not tried: a user's first subclass."""

    socket_ids = ("a", "b")
    room_names = ("r",)
    check_order = check_errors = check_outputs = False
    supports_pending = supports_states = supports_bulk = supports_acks = False

    def make_adapter(self) -> Any:
        return EngineAdapter()


def test_a_relaxed_machine_skips_what_it_does_not_check() -> None:
    machine = ScriptedSetRooms()
    step(machine, "connect", ("/", 0, 99))  # never pending: supports_pending is off
    step(machine, "connect", ("/", 0, 0))
    assert machine.model.sockets("/", SocketState.CONNECTED) == ["a", "b"]
    step(machine, "join", ["r", "b"], index=0)  # b's id room: refused by the model, skipped
    step(machine, "join", ["r"], index=1)
    step(machine, "broadcast", ("/", 0), ["r"], [])
    step(machine, "disconnect", index=0)


class ScriptedRefusalsOnly(ScriptedSetRooms):
    check_errors = True


def test_refusals_skip_the_operations_an_adapter_lacks() -> None:
    machine = ScriptedRefusalsOnly()
    step(machine, "connect", ("/", 0, 0))
    step(machine, "stray_socket", ("accept", "/", "a", 0))  # no accept(): skipped
    step(machine, "stray_socket", ("emit_with_ack", "/", "a", 0))  # no acks: skipped
    step(machine, "stray_socket", ("begin_disconnect", "/", "b", 0))  # unknown: refused
    step(machine, "bad_rooms", ("members_of", "/", 0, None))  # no bulk: skipped
    step(machine, "bad_rooms", ("broadcast except", "/", 0, None))  # refused
    assert machine.model.sockets("/") == ["a"]


# -- the machine catches broken adapters ---------------------------------------------------


class DeliversToDisconnecting(EngineAdapter):
    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> list[str]:
        namespace = self.engine.namespace(nsp)
        leaving = [
            s for s in namespace.sockets() if namespace.state_of(s) is not SocketState.CONNECTED
        ]
        return super().broadcast(nsp, rooms, except_, sender) + leaving


class DeliversTwice(EngineAdapter):
    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> list[str]:
        recipients = super().broadcast(nsp, rooms, except_, sender)
        return recipients + recipients[:1]


class ForgetsTheSender(EngineAdapter):
    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> list[str]:
        return super().broadcast(nsp, rooms, except_, None)


class EmptyListMeansEverybody(EngineAdapter):
    """The trap of python-socketio and Node: ``to([])`` reaching the whole namespace."""

    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> list[str]:
        return super().broadcast(nsp, rooms or None, except_, sender)


class ReversedOrder(EngineAdapter):
    def broadcast(self, nsp: str, rooms: Any, except_: Any, sender: str | None) -> list[str]:
        return super().broadcast(nsp, rooms, except_, sender)[::-1]


class RaisesKeyError(EngineAdapter):
    """Refuses unknown sockets, but with a plain KeyError."""

    def _unknown_is_key_error(self, method: str, nsp: str, sid: str, *args: Any) -> Any:
        try:
            return getattr(super(), method)(nsp, sid, *args)
        except UnknownSocketError as error:
            raise KeyError(sid) from error

    def join(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        return self._unknown_is_key_error("join", nsp, sid, rooms)

    def leave(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        return self._unknown_is_key_error("leave", nsp, sid, rooms)

    def finish_disconnect(self, nsp: str, sid: str) -> list[Output]:
        return self._unknown_is_key_error("finish_disconnect", nsp, sid)


class AcceptsUnknownSockets(EngineAdapter):
    """Takes an unknown socket for a no-op instead of refusing it."""

    def _known(self, nsp: str, sid: str) -> bool:
        return sid in self.engine.namespace(nsp).sockets()

    def join(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        return super().join(nsp, sid, rooms) if self._known(nsp, sid) else []

    def leave(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        return super().leave(nsp, sid, rooms) if self._known(nsp, sid) else []

    def disconnect(self, nsp: str, sid: str) -> list[Output]:
        return super().disconnect(nsp, sid) if self._known(nsp, sid) else []


class JoinsBeforeRefusing(EngineAdapter):
    """Joins the rooms one by one, so that a refused one leaves the earlier ones joined."""

    def join(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        outputs: list[Output] = []
        for room in normalize_rooms(rooms):
            outputs += self.engine.namespace(nsp).join(sid, [room])
        return outputs


class DropsNotices(EngineAdapter):
    def join(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        super().join(nsp, sid, rooms)
        return []


class KeepsAGhostRoom(EngineAdapter):
    def rooms(self, nsp: str) -> tuple[Room, ...]:
        return (*super().rooms(nsp), "ghost")


class ForgetsTheIdRoomInRoomsOf(EngineAdapter):
    def rooms_of(self, nsp: str, sid: str) -> tuple[Room, ...]:
        return tuple(room for room in super().rooms_of(nsp, sid) if room != sid)


class ForgetsALateMember(EngineAdapter):
    def members(self, nsp: str, room: Room) -> tuple[str, ...]:
        members = super().members(nsp, room)
        return members[:-1] if len(members) > 1 else members


class HasAPhantomMember(EngineAdapter):
    def members(self, nsp: str, room: Room) -> tuple[str, ...]:
        return (*super().members(nsp, room), "phantom")


class WrongStates(EngineAdapter):
    def state_of(self, nsp: str, sid: str) -> SocketState:
        return SocketState.CONNECTED


class LosesAckResponses(EngineAdapter):
    def ack(self, nsp: str, sid: str, ack_id: int, response: Any) -> list[Output]:
        return super().ack(nsp, sid, ack_id, None)


class NeverTimesOut(EngineAdapter):
    def advance(self, now: float) -> list[Output]:
        return []

    def next_deadline(self) -> float | None:
        return None


class ReusesAckIds(EngineAdapter):
    def emit_with_ack(self, *args: Any) -> list[Output]:
        outputs = super().emit_with_ack(*args)
        first = outputs[0]
        assert isinstance(first, Deliveries)
        reused = Deliveries(
            nsp=first.nsp, payload=first.payload, recipients=first.recipients, ack_id=0
        )
        return [reused, *outputs[1:]]


class CompletesBeforeDelivering(EngineAdapter):
    def emit_with_ack(self, *args: Any) -> list[Output]:
        return super().emit_with_ack(*args)[::-1]


class WithAdapter(RoomsStateMachine):
    adapter_class: ClassVar[type[EngineAdapter]] = EngineAdapter

    def make_adapter(self) -> EngineAdapter:
        return self.adapter_class()


def machine_for(adapter_class: type[EngineAdapter], **attributes: Any) -> type[WithAdapter]:
    return type(
        f"Check{adapter_class.__name__}",
        (WithAdapter,),
        {"adapter_class": adapter_class, **attributes},
    )


@pytest.mark.parametrize(
    ("adapter_class", "message"),
    [
        (DeliversToDisconnecting, "recipients"),
        (DeliversTwice, "recipients"),
        (ForgetsTheSender, "recipients|error"),
        (EmptyListMeansEverybody, "recipients|error"),
        (ReversedOrder, "recipients"),
        (RaisesKeyError, "refusal"),
        (AcceptsUnknownSockets, "accepted a refused call"),
        (JoinsBeforeRefusing, "refusal changed the state"),
        (DropsNotices, "outputs"),
        (KeepsAGhostRoom, "'ghost' is empty"),
        (ForgetsTheIdRoomInRoomsOf, "which its rooms_of omits"),
        (ForgetsALateMember, "among its members"),
        (HasAPhantomMember, "but no socket"),
        (WrongStates, "state"),
        (LosesAckResponses, "completed acknowledgements"),
        (NeverTimesOut, "completed acknowledgements|next_deadline"),
        (ReusesAckIds, "already in flight|completed acknowledgements"),
        (CompletesBeforeDelivering, "first output"),
    ],
)
@pytest.mark.usefixtures("untraced")
def test_the_machine_catches_a_broken_adapter(
    adapter_class: type[EngineAdapter], message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        run_state_machine_as_test(machine_for(adapter_class, refusals="exact"), settings=QUICK)


@pytest.mark.usefixtures("untraced")
def test_relaxing_a_check_accepts_what_it_no_longer_checks() -> None:
    run_state_machine_as_test(machine_for(ReversedOrder, check_order=False), settings=PASSING)
    run_state_machine_as_test(machine_for(DropsNotices, check_outputs=False), settings=PASSING)


def test_a_refusal_the_adapter_misses_is_reported_with_both_sides() -> None:
    machine = machine_for(AcceptsUnknownSockets)()
    with pytest.raises(AdapterDefect) as raised:
        machine.perform(op.leave("/", "ghost", ["r"]))
    assert raised.value.mismatch.lines() == [
        "  expected: refused (UnknownSocketError: socket 'ghost' is not in namespace '/'), "
        "signalled as raising one of Exception",
        "  actual:   accepted it silently (returned [], nothing changed)",
    ]


def test_a_refusal_of_another_class_is_reported() -> None:
    machine = machine_for(RaisesKeyError, refusals="exact")()
    with pytest.raises(AdapterDefect, match="refusal"):
        machine.perform(op.leave("/", "ghost", ["r"]))
    machine = machine_for(RaisesKeyError)()  # "raise": any exception will do
    machine.perform(op.leave("/", "ghost", ["r"]))
    machine = machine_for(EngineAdapter, refusals="exact")()
    machine.perform(op.leave("/", "ghost", ["r"]))  # the same class: all is well


class Minimal:
    """Has the methods of RoomsAdapter and nothing else."""

    def __getattr__(self, name: str) -> Any:
        if name in {"connect", "join", "leave", "begin_disconnect", "finish_disconnect"}:
            return lambda *args: None
        if name in {"disconnect", "broadcast", "rooms_of", "rooms", "members"}:
            return lambda *args: ()
        raise AttributeError(name)


class ChecksAMinimalAdapter(RoomsStateMachine):
    supports_acks = False

    def make_adapter(self) -> Any:
        return Minimal()


def test_the_machine_says_which_methods_an_adapter_lacks() -> None:
    with pytest.raises(TypeError) as raised:
        ChecksAMinimalAdapter()
    message = str(raised.value)
    assert message.startswith("Minimal lacks connect_pending() (or set supports_pending = False)")
    assert "sockets_join() (or set supports_bulk = False)" in message
    assert "emit_with_ack" not in message  # supports_acks is off

    class NotAnAdapter(RoomsStateMachine):
        def make_adapter(self) -> Any:
            return object()

    with pytest.raises(TypeError, match=r"object lacks connect\(\), join\(\)"):
        NotAnAdapter()


# -- the harness ---------------------------------------------------------------------------


def test_sequential_ids_are_deterministic_and_independent() -> None:
    first, second = sequential_ids(), sequential_ids("p")
    assert [first(), first(), second(), first()] == ["s1", "s2", "p1", "s3"]


def test_the_harness_files_deliveries_per_socket() -> None:
    harness = Harness()
    ann, bob = harness.connect(), harness.connect()
    cid = harness.connect("/chat")
    assert (ann, bob, cid) == ("s1", "s2", "s3")
    harness.join(ann, "python")
    harness.join(bob, ["python", 42])
    assert harness.emit("hi", rooms="python", sender=ann) == [bob]
    assert harness.emit("all") == [ann, bob]
    assert harness.emit("chat", "/chat") == [cid]
    harness.connect("/chat", sid=bob)
    harness.emit("to bob in chat", "/chat", rooms=bob)
    assert harness.received(bob) == ["hi", "all", "to bob in chat"]
    assert harness.received(bob, "/chat") == ["to bob in chat"]
    assert harness.take(bob, "/") == ["hi", "all"]
    assert harness.received(bob) == ["to bob in chat"]
    assert harness.take(ann) == ["all"]
    assert harness.take(ann) == []
    assert harness.received("nobody") == []
    assert harness.take("nobody") == []
    assert harness.received(cid) == ["chat"]


def test_the_harness_keeps_notices_in_order() -> None:
    harness = Harness()
    sid = harness.connect(pending=True)
    assert sid == "s1" and harness.connected == []
    harness.join(sid, "lobby")
    harness.accept(sid)
    assert harness.connected == [Connected(nsp="/", sid="s1")]
    harness.leave(sid, "lobby")
    assert harness.take_notices() == [
        RoomCreated(nsp="/", room="lobby"),
        RoomJoined(nsp="/", room="lobby", sid="s1"),
        RoomCreated(nsp="/", room="s1"),
        RoomJoined(nsp="/", room="s1", sid="s1"),
        RoomLeft(nsp="/", room="lobby", sid="s1"),
        RoomDeleted(nsp="/", room="lobby"),
    ]
    assert harness.take_notices() == []
    refused = harness.connect(pending=True)
    harness.refuse(refused)
    assert harness.engine.namespace().sockets() == ("s1",)
    assert len(harness.outputs) == 7


def test_the_harness_drives_acknowledgements_by_hand() -> None:
    harness = Harness(now=100.0)
    ann, bob = harness.connect(), harness.connect()
    ack_id = harness.emit_with_ack("vote?", timeout=5)
    assert harness.received(ann) == harness.received(bob) == ["vote?"]
    harness.ack(ann, ack_id, "yes")
    assert harness.advance(4) == [] and ack_id not in harness.acks
    harness.advance(1)
    assert harness.now == 105.0
    assert harness.acks[ack_id] == AckCompleted(
        nsp="/", ack_id=ack_id, responses=("yes",), timed_out=True
    )
    nobody = harness.emit_with_ack("anyone?", timeout=5, rooms=[])
    assert harness.acks[nobody].responses == ()
    both = harness.emit_with_ack("ready?", timeout=5)
    harness.ack(bob, both, 2)
    harness.ack(ann, both, 1)
    assert harness.acks[both].responses == (2, 1)


def test_the_harness_carries_out_disconnect_orders() -> None:
    harness = Harness()
    sids = [harness.connect() for _ in range(4)]
    harness.join(sids[0], "room")
    harness.join(sids[1], "room")
    harness.begin_disconnect(sids[3], reason="transport close")
    harness.handle(sansio_rooms.DisconnectSockets(rooms=("room",), close_connection=True))
    assert [order.sid for order in harness.disconnecting] == ["s4", "s1", "s2"]
    assert harness.disconnecting[1] == SocketDisconnecting(
        nsp="/", sid="s1", reason=DEFAULT_REASON, close_connection=True
    )
    harness.disconnect(sids[2])
    harness.finish_disconnect(sids[3])
    assert [order.sid for order in harness.disconnecting] == ["s1", "s2"]
    finished = harness.finish_disconnects()
    assert [o.sid for o in finished if isinstance(o, SocketDisconnected)] == ["s1", "s2"]
    assert harness.disconnecting == []
    assert [d.sid for d in harness.disconnected] == ["s3", "s4", "s1", "s2"]
    assert harness.engine.namespace().sockets() == ()


def test_the_harness_wraps_a_given_engine() -> None:
    engine = RoomEngine(id_factory=sequential_ids("x"))
    harness = Harness(engine)
    assert harness.connect() == "x1"
    assert harness.notices == []  # this engine has notices off


def recipients_in(outputs: Iterable[Output]) -> list[list[str]]:
    return [list(o.recipients) for o in outputs if isinstance(o, Deliveries)]


def test_the_harness_handles_event_values() -> None:
    harness = Harness()
    harness.handle(sansio_rooms.Connect(sid="a"))
    outputs = harness.handle(Emit(payload="x", rooms=("a",)))
    assert recipients_in(outputs) == [["a"]]
    assert harness.received("a") == ["x"]
