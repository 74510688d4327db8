"""A hypothesis state machine that checks any room keeper against the reference model.

Every rule does one operation on both the adapter under test and a :class:`ReferenceModel`,
and compares what comes back; the invariants compare the whole observable state after every
step. The model goes first: if it refuses the operation, the adapter must refuse it with the
same error class and be left exactly as it was (or, when ``check_errors`` is off, the
operation is skipped: the adapter is only asked what the semantics allow).

The ordinary rules act on sockets that exist, in a state that suits the operation; two more
rules (``stray_socket`` and ``bad_rooms``, when ``check_errors``) name unknown or gone
sockets, sockets in the wrong state, and values that are not rooms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar, cast

from hypothesis import currently_in_test_context, event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from .._errors import SansioRoomsError
from .._names import Room
from .._outputs import AckCompleted, Deliveries, Output
from .._state import SocketState
from ._adapter import (
    CAPABILITIES,
    AckAdapter,
    BulkAdapter,
    EngineAdapter,
    PendingAdapter,
    RoomsAdapter,
    StatesAdapter,
)
from ._draws import PICK, draws, pick
from ._model import ReferenceModel

__all__ = ["RoomsStateMachine"]

T = TypeVar("T")

_CONNECTED = SocketState.CONNECTED
_PENDING = SocketState.PENDING
_DISCONNECTING = SocketState.DISCONNECTING
_ANY_STATE = tuple(SocketState)


def _mismatch(what: str, got: object, expected: object) -> None:
    # The one place a check fails: the message shows both sides, the shrunk steps show how.
    if got != expected:
        raise AssertionError(f"{what}:\n  adapter: {got!r}\n  model:   {expected!r}")


def _sort_key(value: object) -> tuple[str, str]:
    # Sorting a mix of str and int rooms (and outputs) needs a key both types agree on.
    return (type(value).__name__, repr(value))


class RoomsStateMachine(RuleBasedStateMachine):
    """Checks a room keeper against the reference semantics, step by step.

    Subclass it, return your adapter from ``make_adapter()``, and turn off in class
    attributes what your adapter does not do; then run ``YourMachine.TestCase`` (a
    ``unittest.TestCase`` that pytest collects) or
    ``hypothesis.stateful.run_state_machine_as_test(YourMachine)``. By default it checks our
    :class:`RoomEngine` through :class:`EngineAdapter`, with everything on.
    """

    #: The pools the rules draw from: small, so that operations meet.
    namespaces: ClassVar[tuple[str, ...]] = ("/", "/chat")
    socket_ids: ClassVar[tuple[str, ...]] = ("a", "b", "c", "d", "42")
    room_names: ClassVar[tuple[Room, ...]] = ("r", "s", "42", 42, 0)

    #: Compare recipients, rooms and members in order (delivery order, join order, creation
    #: order). Off: as sets, for adapters built on unordered sets.
    check_order: ClassVar[bool] = True
    #: Also try what must be refused (unknown sockets, wrong states, bad room names, another
    #: socket's id room, a duplicate id) and expect the model's error class, state unchanged.
    check_errors: ClassVar[bool] = True
    #: Compare what mutating methods return with the engine's outputs (notices included).
    check_outputs: ClassVar[bool] = True
    #: Capabilities beyond :class:`RoomsAdapter`: see the protocols in this package.
    supports_pending: ClassVar[bool] = True
    supports_states: ClassVar[bool] = True
    supports_bulk: ClassVar[bool] = True
    supports_acks: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.model = ReferenceModel()
        self.adapter = self.make_adapter()
        missing = [
            f"{name}()" + (f" (or set {flag} = False)" if flag else "")
            for flag, names in CAPABILITIES.items()
            if not flag or getattr(self, flag)
            for name in names
            if not callable(getattr(self.adapter, name, None))
        ]
        if missing:
            raise TypeError(f"{type(self.adapter).__name__} lacks {', '.join(missing)}")
        self._draw = draws(self.namespaces, self.socket_ids, self.room_names)
        if self.check_order:
            self._ordered = list  # type: ignore[method-assign,assignment]
        #: (nsp, sid, state) of every socket of the model; None when an operation may have
        #: changed it. Preconditions ask for it several times a step.
        self._census: list[tuple[str, str, SocketState]] | None = None
        #: The clock: the rules move it, the adapter reads it from the arguments.
        self.now = 0.0
        #: The model's ack ids -> the adapter's, since each numbers them its own way.
        self.ack_ids: dict[int, int] = {}

    def make_adapter(self) -> RoomsAdapter:
        """The adapter under test, fresh for every run. Override this."""
        return EngineAdapter()

    # Typed views of the adapter for the optional capabilities (checked in __init__).
    @property
    def _pending(self) -> PendingAdapter:
        return cast(PendingAdapter, self.adapter)

    @property
    def _states(self) -> StatesAdapter:
        return cast(StatesAdapter, self.adapter)

    @property
    def _bulk(self) -> BulkAdapter:
        return cast(BulkAdapter, self.adapter)

    @property
    def _acks(self) -> AckAdapter:
        return cast(AckAdapter, self.adapter)

    def _has(self, *states: SocketState) -> bool:
        return bool(self._sockets_in(*states))

    def _sockets_in(self, *states: SocketState) -> list[tuple[str, str]]:
        if self._census is None:
            self._census = [
                (nsp, sid, self.model.state_of(nsp, sid))
                for nsp in self.namespaces
                for sid in self.model.sockets(nsp)
            ]
        return [(nsp, sid) for nsp, sid, state in self._census if state in states]

    # -- running one operation on both sides ------------------------------------------------

    def _observe(self) -> dict[str, Any]:
        """What the adapter shows, in the shape ``_expected`` builds from the model."""
        seen: dict[str, Any] = {}
        for nsp in self.namespaces:
            rooms = list(self.adapter.rooms(nsp))
            seen[nsp] = {
                "rooms": self._ordered(rooms),
                "members": {room: self._ordered(self.adapter.members(nsp, room)) for room in rooms},
                "rooms_of": {
                    sid: self._ordered(self.adapter.rooms_of(nsp, sid))
                    for sid in self.model.sockets(nsp)
                },
            }
            if self.supports_states:
                seen[nsp]["sockets"] = self._ordered(self._states.sockets(nsp))
                seen[nsp]["states"] = {
                    sid: self._states.state_of(nsp, sid) for sid in self.model.sockets(nsp)
                }
        return seen

    def _expected(self) -> dict[str, Any]:
        snapshot = self.model.snapshot()
        expected: dict[str, Any] = {}
        for nsp in self.namespaces:
            space: dict[str, Any] = snapshot.get(nsp, {"sockets": [], "rooms": []})
            expected[nsp] = {
                "rooms": self._ordered(room for room, _ in space["rooms"]),
                "members": {room: self._ordered(sids) for room, sids in space["rooms"]},
                "rooms_of": {sid: self._ordered(rooms) for sid, _, rooms in space["sockets"]},
            }
            if self.supports_states:
                expected[nsp]["sockets"] = self._ordered(sid for sid, _, _ in space["sockets"])
                expected[nsp]["states"] = {sid: state for sid, state, _ in space["sockets"]}
        return expected

    def _ordered(self, items: Iterable[T]) -> list[T]:
        # Rebound in __init__ to plain list() when order is checked: it runs ~50 times a step.
        return sorted(items, key=_sort_key)

    def _run(
        self, what: str, on_adapter: Callable[[], T], on_model: Callable[[], list[Output]]
    ) -> tuple[T, list[Output]] | None:
        """Run an operation on the model, then on the adapter; ``None`` if it was refused.

        A refusal by the model must be a refusal by the adapter, of the same class, with
        nothing changed on either side.
        """
        operation = what.partition("(")[0]
        self._census = None
        try:
            expected = on_model()
        except SansioRoomsError as error:
            self._note(f"{operation}: {type(error).__name__}")
            if not self.check_errors:
                return None
            before = self._observe()
            try:
                on_adapter()
            except Exception as raised:
                _mismatch(f"{what}: error class", type(raised), type(error))
            else:
                _mismatch(f"{what}: error", "no error", f"{type(error).__name__}: {error}")
            _mismatch(f"{what}: state after the refusal", self._observe(), before)
            return None
        self._note(f"{operation}: ok")
        return on_adapter(), expected

    def _note(self, outcome: str) -> None:
        # Shown by --hypothesis-show-statistics: how much of a run tested refusals. Outside
        # a run (a rule called by hand, in a test of the machine) there is no one to tell.
        if currently_in_test_context():
            event(outcome)

    def _mutate(
        self, what: str, on_adapter: Callable[[], object], on_model: Callable[[], list[Output]]
    ) -> None:
        ran = self._run(what, on_adapter, on_model)
        if ran is not None and self.check_outputs:
            got, expected = ran
            _mismatch(
                f"{what}: outputs",
                self._ordered(cast(Iterable[Output], got)),
                self._ordered(expected),
            )

    def _check_recipients(
        self, what: str, got: Iterable[str], expected: list[str], nsp: str
    ) -> None:
        got = list(got)
        _mismatch(f"{what}: recipients", self._ordered(got), self._ordered(expected))
        # Implied by equality with the model, but the two promises users care about most are
        # worth their own message.
        _mismatch(f"{what}: a recipient twice", len(set(got)), len(got))
        states = {sid: self.model.state_of(nsp, sid) for sid in got}
        _mismatch(f"{what}: delivered to", states, dict.fromkeys(got, _CONNECTED))

    # -- rules: connect, join, leave, broadcast, disconnect ---------------------------------

    @initialize(data=st.data())
    def populate(self, data: st.DataObject) -> None:
        """A few sockets to start with: most rules need one."""
        for _ in range(data.draw(self._draw.population)):
            self.connect(data)

    @rule(data=st.data())
    def connect(self, data: st.DataObject) -> None:
        nsp, index, pending = data.draw(self._draw.connect)
        taken = {*self.model.sockets(nsp), *self.model.rooms(nsp)}
        fresh = [sid for sid in self.socket_ids if sid not in taken]
        if fresh:
            self._connect(nsp, pick(fresh, index), self.supports_pending and pending >= 80)

    def _connect(self, nsp: str, sid: object, pending: bool) -> None:
        connect = self._pending.connect_pending if pending else self.adapter.connect
        self._mutate(
            f"connect({nsp!r}, {sid!r}, pending={pending})",
            lambda: connect(nsp, cast(str, sid)),
            lambda: self.model.connect(nsp, cast(str, sid), pending=pending),
        )

    def _on_socket(self, name: str, nsp: str, sid: str) -> None:
        """``name(nsp, sid)`` on both sides."""
        adapter_method: Callable[[str, str], object] = getattr(self.adapter, name)
        model_method: Callable[[str, str], list[Output]] = getattr(self.model, name)
        self._mutate(
            f"{name}({nsp!r}, {sid!r})",
            lambda: adapter_method(nsp, sid),
            lambda: model_method(nsp, sid),
        )

    @precondition(lambda self: self.supports_pending and self._has(_PENDING))
    @rule(index=PICK, accept=st.booleans())
    def accept_or_refuse(self, index: int, accept: bool) -> None:
        nsp, sid = pick(self._sockets_in(_PENDING), index)
        self._on_socket("accept" if accept else "refuse", nsp, sid)

    @precondition(lambda self: self._has(_CONNECTED))
    @rule(index=PICK)
    def begin_disconnect(self, index: int) -> None:
        self._on_socket("begin_disconnect", *pick(self._sockets_in(_CONNECTED), index))

    @precondition(lambda self: self._has(_DISCONNECTING))
    @rule(index=PICK)
    def finish_disconnect(self, index: int) -> None:
        self._on_socket("finish_disconnect", *pick(self._sockets_in(_DISCONNECTING), index))

    @precondition(lambda self: self._has(*_ANY_STATE))
    @rule(index=PICK)
    def disconnect(self, index: int) -> None:
        self._on_socket("disconnect", *pick(self._sockets_in(*_ANY_STATE), index))

    def _join_or_leave(self, name: str, nsp: str, sid: str, rooms: Sequence[Room]) -> None:
        adapter_method: Callable[[str, str, Sequence[Room]], object] = getattr(self.adapter, name)
        model_method: Callable[[str, str, object], list[Output]] = getattr(self.model, name)
        self._mutate(
            f"{name}({nsp!r}, {sid!r}, {rooms!r})",
            lambda: adapter_method(nsp, sid, rooms),
            lambda: model_method(nsp, sid, rooms),
        )

    @precondition(lambda self: self._has(_PENDING, _CONNECTED))
    @rule(index=PICK, data=st.data())
    def join(self, index: int, data: st.DataObject) -> None:
        nsp, sid = pick(self._sockets_in(_PENDING, _CONNECTED), index)
        self._join_or_leave("join", nsp, sid, data.draw(self._draw.rooms))

    @precondition(lambda self: self._has(*_ANY_STATE))
    @rule(index=PICK, data=st.data())
    def leave(self, index: int, data: st.DataObject) -> None:
        nsp, sid = pick(self._sockets_in(*_ANY_STATE), index)
        # Mostly rooms it is in, or leaving would be a no-op.
        rooms = data.draw(self._draw.rooms) if index % 3 else self.model.rooms_of(nsp, sid)[:2]
        self._join_or_leave("leave", nsp, sid, rooms)

    def _broadcast(
        self, nsp: str, rooms: Sequence[Room] | None, except_: Sequence[Room], sender: str | None
    ) -> None:
        what = f"broadcast({nsp!r}, rooms={rooms!r}, except_={except_!r}, sender={sender!r})"
        expected: list[str] = []

        def on_model() -> list[Output]:
            expected.extend(self.model.recipients(nsp, rooms, except_, None, sender))
            return []

        ran = self._run(what, lambda: self.adapter.broadcast(nsp, rooms, except_, sender), on_model)
        if ran is not None:
            self._check_recipients(what, ran[0], expected, nsp)

    def _sender(self, nsp: str, index: int) -> str | None:
        # None half of the time; else a socket of the namespace in any state (the "user
        # left" notice is sent while disconnecting).
        sockets = self.model.sockets(nsp)
        return pick(sockets, index // 2) if sockets and index % 2 else None

    @rule(data=st.data())
    def broadcast(self, data: st.DataObject) -> None:
        nsp, rooms, except_, index = data.draw(self._draw.broadcast)
        self._broadcast(nsp, rooms, except_, self._sender(nsp, index))

    # -- rules: bulk operations -------------------------------------------------------------

    def _members_of(
        self, nsp: str, rooms: Sequence[Room] | None, except_: Sequence[Room], sids: Any
    ) -> None:
        what = f"members_of({nsp!r}, rooms={rooms!r}, except_={except_!r}, sids={sids!r})"
        expected: list[str] = []

        def on_model() -> list[Output]:
            expected.extend(self.model.members_of(nsp, rooms, except_=except_, sids=sids))
            return []

        ran = self._run(what, lambda: self._bulk.members_of(nsp, rooms, except_, sids), on_model)
        if ran is not None:
            self._check_recipients(what, ran[0], expected, nsp)

    @precondition(lambda self: self.supports_bulk)
    @rule(data=st.data())
    def members_of(self, data: st.DataObject) -> None:
        self._members_of(*data.draw(self._draw.selection))

    def _sockets_join_or_leave(
        self,
        name: str,
        nsp: str,
        names: Sequence[Room],
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> None:
        self._mutate(
            f"{name}({nsp!r}, {names!r}, rooms={rooms!r}, except_={except_!r}, sids={sids!r})",
            lambda: getattr(self._bulk, name)(nsp, names, rooms, except_, sids),
            lambda: getattr(self.model, name)(nsp, names, rooms=rooms, except_=except_, sids=sids),
        )

    @precondition(lambda self: self.supports_bulk)
    @rule(data=st.data())
    def sockets_join_or_leave(self, data: st.DataObject) -> None:
        leave, names = data.draw(self._draw.bulk)
        name = "sockets_leave" if leave else "sockets_join"
        nsp, rooms, except_, sids = data.draw(self._draw.selection)
        self._sockets_join_or_leave(name, nsp, names, rooms, except_, sids)

    @precondition(lambda self: self.supports_bulk)
    @rule(data=st.data())
    def disconnect_sockets(self, data: st.DataObject) -> None:
        nsp, rooms, except_, sids = data.draw(self._draw.selection)
        self._mutate(
            f"disconnect_sockets({nsp!r}, rooms={rooms!r}, except_={except_!r}, sids={sids!r})",
            lambda: self._bulk.disconnect_sockets(nsp, rooms, except_, sids),
            lambda: self.model.disconnect_sockets(nsp, rooms=rooms, except_=except_, sids=sids),
        )

    def _close_room(self, nsp: str, room: Room) -> None:
        self._mutate(
            f"close_room({nsp!r}, {room!r})",
            lambda: self._bulk.close_room(nsp, room),
            lambda: self.model.close_room(nsp, room),
        )

    @precondition(lambda self: self.supports_bulk)
    @rule(data=st.data())
    def close_room(self, data: st.DataObject) -> None:
        self._close_room(*data.draw(self._draw.room))

    # -- rules: what must be refused --------------------------------------------------------

    @precondition(lambda self: self.check_errors)
    @rule(data=st.data())
    def stray_socket(self, data: st.DataObject) -> None:
        """An operation on any id of the pool, whatever its state: unknown, gone, pending,
        disconnecting, or not an id at all. The model says what must be refused."""
        operation, nsp, sid, index = data.draw(self._draw.stray)
        sockets = self._sockets_in(*_ANY_STATE)
        if sockets and index % 2 and operation != "connect":
            # A socket that exists, for the operations its state does not allow.
            nsp, sid = pick(sockets, index // 2)
        if operation == "connect":
            self._connect(nsp, sid, pending=False)
        elif type(sid) is not str:
            return  # Only connect validates the id's type; elsewhere it is simply unknown.
        elif operation in ("join", "leave"):
            self._join_or_leave(operation, nsp, sid, data.draw(self._draw.rooms))
        elif operation == "broadcast":
            self._broadcast(nsp, data.draw(self._draw.target), [], sid)
        elif operation == "emit_with_ack":
            if self.supports_acks:
                self._emit_with_ack(nsp, data.draw(self._draw.target), [], sid, timeout=1)
        elif operation not in ("accept", "refuse") or self.supports_pending:
            self._on_socket(operation, nsp, sid)

    @precondition(lambda self: self.check_errors)
    @rule(data=st.data())
    def bad_rooms(self, data: st.DataObject) -> None:
        """A value that is not a room (or a list of rooms) where one is expected."""
        operation, nsp, index, bad = data.draw(self._draw.bad)
        not_rooms = cast(Any, bad)
        if operation in ("join", "leave"):
            sockets = self._sockets_in(_PENDING, _CONNECTED)
            if sockets:
                self._join_or_leave(operation, *pick(sockets, index), not_rooms)
        elif operation == "broadcast":
            self._broadcast(nsp, not_rooms, [], None)
        elif operation == "broadcast except":
            self._broadcast(nsp, None, not_rooms, None)
        elif self.supports_bulk:
            if operation == "members_of":
                self._members_of(nsp, [], not_rooms, None)
            elif operation == "sockets_join":
                self._sockets_join_or_leave("sockets_join", nsp, not_rooms, None, [], None)
            else:
                self._close_room(nsp, not_rooms)

    # -- rules: acknowledgements ------------------------------------------------------------

    def _completions(self, outputs: Iterable[Output], *, from_adapter: bool) -> list[object]:
        """Ack outputs as comparable values, under the model's ack ids."""
        model_id = {adapter_id: model_id for model_id, adapter_id in self.ack_ids.items()}
        return [
            (o.nsp, model_id.get(o.ack_id) if from_adapter else o.ack_id, o.responses, o.timed_out)
            if isinstance(o, AckCompleted)
            else o
            for o in outputs
        ]

    def _check_completions(
        self, what: str, got: Iterable[Output], expected: Iterable[Output]
    ) -> None:
        _mismatch(
            f"{what}: completed acknowledgements",
            self._completions(got, from_adapter=True),
            self._completions(expected, from_adapter=False),
        )

    @precondition(lambda self: self.supports_acks)
    @rule(data=st.data(), timeout=st.sampled_from([0, 1, 2.5, 10]))
    def emit_with_ack(self, data: st.DataObject, timeout: float) -> None:
        nsp, rooms, except_, index = data.draw(self._draw.broadcast)
        self._emit_with_ack(nsp, rooms, except_, self._sender(nsp, index), timeout)

    def _emit_with_ack(
        self,
        nsp: str,
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sender: str | None,
        timeout: float,
    ) -> None:
        now = self.now
        what = f"emit_with_ack({nsp!r}, rooms={rooms!r}, except_={except_!r}, sender={sender!r})"
        ran = self._run(
            what,
            lambda: self._acks.emit_with_ack(nsp, rooms, except_, sender, now, timeout),
            lambda: self.model.emit_with_ack(
                nsp, None, now=now, timeout=timeout, rooms=rooms, except_=except_, sender=sender
            ),
        )
        if ran is None:
            return
        got, expected = list(ran[0]), ran[1]
        _mismatch(f"{what}: first output", type(got[0]), Deliveries)
        deliveries, model_deliveries = cast(Deliveries, got[0]), cast(Deliveries, expected[0])
        in_flight = {self.ack_ids[m] for m in self.model.pending_acks() if m in self.ack_ids}
        _mismatch(f"{what}: ack id already in flight", deliveries.ack_id in in_flight, False)
        self.ack_ids[cast(int, model_deliveries.ack_id)] = cast(int, deliveries.ack_id)
        self._check_recipients(what, deliveries.recipients, list(model_deliveries.recipients), nsp)
        self._check_completions(what, got[1:], expected[1:])

    @precondition(lambda self: self.supports_acks and bool(self.ack_ids))
    @rule(data=st.data(), index=PICK, response=st.integers(0, 9))
    def ack(self, data: st.DataObject, index: int, response: int) -> None:
        awaited = [
            (nsp, sid, ack_id)
            for ack_id, (nsp, owing) in self.model.pending_acks().items()
            for sid in owing
        ]
        if awaited and index < 80:
            nsp, sid, model_id = pick(awaited, index)
        else:
            # A late or repeated answer, from a socket that owes none, or in another
            # namespace: each is ignored.
            nsp, sid = data.draw(self._draw.answer)
            model_id = pick(sorted(self.ack_ids), index)
        self._check_completions(
            f"ack({nsp!r}, {sid!r}, {model_id}, {response})",
            self._acks.ack(nsp, sid, self.ack_ids[model_id], response),
            self.model.ack(nsp, sid, model_id, response),
        )

    @precondition(lambda self: self.supports_acks)
    @rule(seconds=st.sampled_from([0, 0.5, 1, 3, 10]))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._check_completions(
            f"advance({self.now})", self._acks.advance(self.now), self.model.advance(self.now)
        )

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        """Both indexes tell the same story, no room is empty, and everything the adapter
        shows is what the model shows (one invariant: it runs after every step)."""
        seen = self._observe()
        for nsp, shown in seen.items():
            rooms_of, members = shown["rooms_of"], shown["members"]
            for room, sids in members.items():
                _mismatch(f"{nsp}: room {room!r} is empty", bool(sids), True)
                for sid in sids:
                    _mismatch(
                        f"{nsp}: {sid!r} is a member of {room!r} but not in the model's sockets",
                        sid in rooms_of,
                        True,
                    )
                    _mismatch(
                        f"{nsp}: {sid!r} is a member of {room!r}, which its rooms_of omits",
                        room in rooms_of[sid],
                        True,
                    )
            for sid, rooms in rooms_of.items():
                for room in rooms:
                    _mismatch(
                        f"{nsp}: {room!r} is in rooms_of({sid!r}) but {sid!r} not in its members",
                        sid in members.get(room, ()),
                        True,
                    )
        _mismatch("state", seen, self._expected())
        if self.supports_acks:
            _mismatch("next_deadline()", self._acks.next_deadline(), self.model.next_deadline())
