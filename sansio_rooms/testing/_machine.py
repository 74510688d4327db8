"""A hypothesis state machine that checks any room keeper against the reference model.

Every rule draws one plain operation (a :class:`Step`) and ``perform`` runs it on the adapter
under test and on a :class:`ReferenceModel` following the machine's ``semantics`` profile;
the invariant compares the whole observable state after every step. The model goes first.
If the profile refuses the operation, the adapter must refuse it the way it says it does
(``refusals``: raising, returning a value, ignoring the call), and be left exactly as it was.

The ordinary rules act on sockets that exist, in a state that suits the operation; two more
rules (``stray_socket`` and ``bad_rooms``, when ``check_errors``) name unknown or gone
sockets, sockets in the wrong state, and values that are not rooms. Any disagreement becomes
an :class:`AdapterDefect`: the steps so far, numbered, then what was expected and what came.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar, cast

from hypothesis import currently_in_test_context, event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from .._errors import SansioRoomsError
from .._names import Room
from .._outputs import AckCompleted, Deliveries, Output, RoomCreated, RoomDeleted, RoomJoined
from .._outputs import RoomLeft as _RoomLeft
from .._state import SocketState
from ._adapter import CAPABILITIES, EngineAdapter, RoomsAdapter
from ._draws import PICK, draws, pick
from ._model import ReferenceModel
from ._report import AdapterDefect, Mismatch, diff, show
from ._semantics import STRICT, Semantics
from ._steps import Step, fresh
from ._strategies import INVALID_KINDS

__all__ = ["RoomsStateMachine"]

T = TypeVar("T")

_CONNECTED = SocketState.CONNECTED
_PENDING = SocketState.PENDING
_DISCONNECTING = SocketState.DISCONNECTING
_ANY_STATE = tuple(SocketState)
_NOTICES = (RoomCreated, RoomJoined, _RoomLeft, RoomDeleted)
#: How an adapter may signal that it refuses a call.
REFUSALS = ("raise", "exact", "return", "ignore", "any")
#: The shapes in which a rooms argument may be passed (``room_forms``).
ROOM_FORMS = ("one", "list", "tuple", "set", "iterator")
#: What the machine compares in order when ``check_order`` is on (see ``unordered``).
VIEWS = ("recipients", "rooms", "members", "rooms_of", "sockets", "outputs")


def _check(check: str, got: object, expected: object) -> None:
    if got != expected:
        raise Mismatch(check, expected=show(expected), actual=show(got))


def _sort_key(value: object) -> tuple[str, str]:
    # Sorting a mix of str and int rooms (and outputs) needs a key both types agree on.
    return (type(value).__name__, repr(value))


def _sides(value: object) -> tuple[object, object]:
    """The argument for the adapter, and the same for the model: a set is read in the order
    the adapter's copy iterates, an iterator is given to each side fresh."""
    for_adapter = fresh(value)
    if isinstance(for_adapter, (set, frozenset)):
        return for_adapter, list(for_adapter)
    return for_adapter, fresh(value)


class _Raised(Exception):
    """The adapter raised ``error`` (kept apart from the kit's own failures)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def _call(function: Callable[[], T]) -> T:
    try:
        return function()
    except Exception as error:
        raise _Raised(error) from error


def _raised(error: BaseException) -> str:
    return f"raised {type(error).__name__}: {error}"


class RoomsStateMachine(RuleBasedStateMachine):
    """Checks a room keeper against a semantics profile, step by step.

    Subclass it, return your adapter from ``make_adapter()``, choose the profile
    (``semantics``), say how the adapter refuses (``refusals``), declare what it does (the
    ``supports_*`` attributes), then run it with ``check_adapter(YourMachine)``, or as
    ``YourMachine.TestCase`` (a ``unittest.TestCase`` that pytest collects). By default it
    checks our :class:`RoomEngine` through :class:`EngineAdapter`, under ``STRICT``.
    """

    #: The pools the rules draw from: small, so that operations meet.
    namespaces: ClassVar[tuple[str, ...]] = ("/", "/chat")
    socket_ids: ClassVar[tuple[str, ...]] = ("a", "b", "c", "d", "42")
    room_names: ClassVar[tuple[Room, ...]] = ("r", "s", "42", 42, 0, "")

    #: The semantics the adapter is held to: ``STRICT`` (this library), ``REFERENCE``
    #: (Socket.IO), or either with some switches changed (``REFERENCE.but(...)``).
    semantics: ClassVar[Semantics] = STRICT
    #: How the adapter refuses what the profile refuses: "raise" (any exception of
    #: ``refusal_errors``), "exact" (the model's error class), "return" (a value that
    #: ``is_refusal`` recognises), "ignore" (it does nothing), "any" (one of those). In every
    #: case the state must be exactly as before.
    refusals: ClassVar[str] = "raise"
    refusal_errors: ClassVar[tuple[type[BaseException], ...]] = (Exception,)
    #: How rooms arguments are passed: a bare room, a list, a tuple, a set, an iterator.
    room_forms: ClassVar[tuple[str, ...]] = ROOM_FORMS
    #: The values that are not rooms tried where a room is expected (``INVALID_KINDS``):
    #: leave out what the adapter deliberately takes as a room (say, any hashable value).
    invalid_rooms: ClassVar[tuple[str, ...]] = INVALID_KINDS

    #: Compare recipients, rooms and members in order (delivery order, join order, creation
    #: order). Off: as sets, for adapters built on unordered sets.
    check_order: ClassVar[bool] = True
    #: With ``check_order``, the views whose order the adapter does not promise, compared as
    #: sets: some of "recipients", "rooms", "members", "rooms_of", "sockets", "outputs".
    unordered: ClassVar[tuple[str, ...]] = ()
    #: Also try what the profile refuses (unknown sockets, wrong states, bad room names, ...).
    check_errors: ClassVar[bool] = True
    #: Compare what mutating methods return with the engine's outputs (notices included).
    check_outputs: ClassVar[bool] = True
    #: Compare the room notices (created, joined, left, deleted) mutating methods return.
    supports_notices: ClassVar[bool] = False
    #: Capabilities beyond :class:`RoomsAdapter`: see ``CAPABILITIES``.
    supports_pending: ClassVar[bool] = True
    supports_states: ClassVar[bool] = True
    supports_bulk: ClassVar[bool] = True
    #: ``close_room``; ``None``: as ``supports_bulk``.
    supports_close_room: ClassVar[bool | None] = None
    supports_sids: ClassVar[bool] = True
    #: Also try connecting ids that are taken, or not ids at all ("", 7, b"a"). Off when the
    #: implementation makes its own ids (python-socketio's come from engine.io, always new).
    check_ids: ClassVar[bool] = True
    #: Broadcasts and selections may exclude rooms (``except_``); off: ``except_`` is ``[]``.
    supports_except: ClassVar[bool] = True
    supports_acks: ClassVar[bool] = True
    #: The adapter's ``disconnect`` does everything at once: there is no disconnecting phase
    #: (no ``begin_disconnect``/``finish_disconnect``; ``disconnect_sockets`` finishes too).
    synchronous_disconnect: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        if self.refusals not in REFUSALS:
            raise ValueError(f"refusals must be one of {REFUSALS}, not {self.refusals!r}")
        unknown_forms = set(self.room_forms) - set(ROOM_FORMS)
        if unknown_forms or not self.room_forms:
            raise ValueError(f"room_forms must be some of {ROOM_FORMS}, not {self.room_forms!r}")
        self.model = ReferenceModel(semantics=self.semantics)
        self.adapter = self.make_adapter()
        missing = [
            f"{name}()" + (f" (or set {_switch_off(flag)})" if flag else "")
            for flag, names in CAPABILITIES.items()
            if self._capable(flag)
            for name in names
            if not callable(getattr(self.adapter, name, None))
        ]
        if missing:
            raise TypeError(f"{type(self.adapter).__name__} lacks {', '.join(missing)}")
        unknown_views = set(self.unordered) - set(VIEWS)
        if unknown_views:
            raise ValueError(f"unordered must be some of {VIEWS}, not {self.unordered!r}")
        self._draw = draws(
            self.namespaces, self.socket_ids, self.room_names, self.room_forms, self.invalid_rooms
        )
        self._in_order = (
            frozenset(VIEWS) - frozenset(self.unordered) if self.check_order else frozenset()
        )
        #: (nsp, sid, state) of every socket of the model; None when an operation may have
        #: changed it. Preconditions ask for it several times a step.
        self._census: list[tuple[str, str, SocketState]] | None = None
        #: The clock: the rules move it, the adapter reads it from the arguments.
        self.now = 0.0
        #: The model's ack ids -> the adapter's, since each numbers them its own way.
        self.ack_ids: dict[int, int] = {}
        #: Every step performed so far: what a failure report lists.
        self.steps: list[Step] = []

    @property
    def _closes_rooms(self) -> bool:
        if self.supports_close_room is None:
            return self.supports_bulk
        return self.supports_close_room

    def _capable(self, flag: str) -> bool:
        if not flag:
            return True
        if flag == "supports_close_room":
            return self._closes_rooms
        if flag.startswith("not "):
            return not getattr(self, flag[4:])
        return bool(getattr(self, flag))

    def make_adapter(self) -> RoomsAdapter:
        """The adapter under test, fresh for every run. Override this."""
        return EngineAdapter()

    def is_refusal(self, result: object) -> bool:
        """With ``refusals = "return"`` (or "any"): whether a result says "refused"."""
        return result is False

    def _a(self, name: str) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self.adapter, name)
        return method

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

    # -- performing a step ------------------------------------------------------------------

    def perform(self, step: Step) -> None:
        """Run ``step`` on the adapter and the model and compare; an ``AdapterDefect`` (the
        steps so far, then the difference) if they disagree."""
        self.steps.append(step)
        self._census = None
        try:
            getattr(self, f"_do_{step.name}")(**step.arguments)
        except Mismatch as mismatch:
            raise AdapterDefect(type(self), list(self.steps), mismatch, after=False) from None

    def _observe(self) -> dict[str, Any]:
        """What the adapter shows, in the shape ``_expected`` builds from the model."""
        seen: dict[str, Any] = {}
        for nsp in self.namespaces:
            rooms = self._ask("rooms", nsp)
            seen[nsp] = {
                "rooms": self._ordered("rooms", rooms),
                "members": {
                    room: self._ordered("members", self._ask("members", nsp, room))
                    for room in rooms
                },
                "rooms_of": {
                    sid: self._ordered("rooms_of", self._ask("rooms_of", nsp, sid))
                    for sid in self.model.sockets(nsp)
                },
            }
            if self.supports_states:
                seen[nsp]["sockets"] = self._ordered("sockets", self._ask("sockets", nsp))
                seen[nsp]["states"] = {
                    sid: self._ask("state_of", nsp, sid, many=False)
                    for sid in self.model.sockets(nsp)
                }
        return seen

    def _ask(self, name: str, *args: object, many: bool = True) -> Any:
        """A query of the adapter; what it raises is a finding, not a crash of the kit."""
        try:
            answer = _call(lambda: self._a(name)(*args))
            return list(answer) if many else answer
        except _Raised as raised:
            call = f"{name}({', '.join(show(arg) for arg in args)})"
            raise Mismatch(f"{call} {_raised(raised.error)}") from None

    def _expected(self) -> dict[str, Any]:
        snapshot = self.model.snapshot()
        expected: dict[str, Any] = {}
        for nsp in self.namespaces:
            space: dict[str, Any] = snapshot.get(nsp, {"sockets": [], "rooms": []})
            expected[nsp] = {
                "rooms": self._ordered("rooms", [room for room, _ in space["rooms"]]),
                "members": {room: self._ordered("members", sids) for room, sids in space["rooms"]},
                "rooms_of": {
                    sid: self._ordered("rooms_of", rooms) for sid, _, rooms in space["sockets"]
                },
            }
            if self.supports_states:
                expected[nsp]["sockets"] = self._ordered(
                    "sockets", [sid for sid, _, _ in space["sockets"]]
                )
                expected[nsp]["states"] = {sid: state for sid, state, _ in space["sockets"]}
        return expected

    def _ordered(self, view: str, items: Iterable[T]) -> list[T]:
        """``items`` as compared: in order, or sorted when ``view``'s order is not promised."""
        if view in self._in_order:
            return list(items)
        return sorted(items, key=_sort_key)

    def _run(
        self, name: str, on_adapter: Callable[[], T], on_model: Callable[[], list[Output]]
    ) -> tuple[T, list[Output]] | None:
        """Run an operation on the model, then on the adapter; ``None`` if it was refused.

        A refusal by the profile must be a refusal by the adapter, signalled as it says, with
        nothing changed; an operation the profile accepts must not be refused.
        """
        try:
            expected = on_model()
        except SansioRoomsError as error:
            self._note(f"{name}: {type(error).__name__}")
            if self.check_errors:
                self._refused(name, error, on_adapter)
            return None
        self._note(f"{name}: ok")
        try:
            got = _call(on_adapter)
        except _Raised as raised:
            raise Mismatch(
                "refused",
                expected="accepted (the profile allows it)",
                actual=f"refused: {_raised(raised.error)}",
            ) from None
        if self.refusals in ("return", "any") and self.is_refusal(got):
            raise Mismatch(
                "refused",
                expected="accepted (the profile allows it)",
                actual=f"refused: returned {got!r}",
            )
        return got, expected

    def _refused(self, name: str, error: SansioRoomsError, on_adapter: Callable[[], T]) -> None:
        expected = f"refused ({type(error).__name__}: {error})"
        before = self._observe()
        try:
            got = _call(on_adapter)
        except _Raised as raised:
            how = _raised(raised.error)
            kinds = self.refusal_errors
            if self.refusals == "exact":
                kinds = (type(error),)
            if self.refusals in ("return", "ignore") or not isinstance(raised.error, kinds):
                raise Mismatch(
                    "refusal", expected=f"{expected}, signalled as {self._signal()}", actual=how
                ) from None
            after = self._observe()
            if after != before:
                raise Mismatch(
                    "refusal changed the state",
                    expected=expected + ", nothing changed",
                    actual=f"{how}, and changed the state:",
                    details=diff(before, after),
                ) from None
            return
        after = self._observe()
        if after != before:
            raise Mismatch(
                "accepted a refused call",
                expected=expected,
                actual="accepted it and changed the state:",
                details=diff(before, after),
            )
        if self.refusals in ("return", "any") and self.is_refusal(got):
            return
        if self.refusals in ("raise", "exact", "return"):
            raise Mismatch(
                "accepted a refused call",
                expected=f"{expected}, signalled as {self._signal()}",
                actual=f"accepted it silently (returned {show(got)}, nothing changed)",
            )
        if name in ("broadcast", "members_of", "emit_with_ack"):
            recipients = self._recipients_of(name, got)
            if recipients:
                raise Mismatch(
                    "accepted a refused call",
                    expected=f"{expected}: nobody reached",
                    actual=f"reached {show(recipients)}",
                )

    def _recipients_of(self, name: str, got: Any) -> list[str]:
        if name != "emit_with_ack":
            return list(got)
        return [sid for o in got if isinstance(o, Deliveries) for sid in o.recipients]

    def _signal(self) -> str:
        if self.refusals == "exact":
            return "the same error class"
        if self.refusals == "raise":
            return f"raising one of {', '.join(k.__name__ for k in self.refusal_errors)}"
        if self.refusals == "return":
            return "a refusal value (is_refusal)"
        return "doing nothing" if self.refusals == "ignore" else "raising, a value or nothing"

    def _note(self, outcome: str) -> None:
        # Shown by --hypothesis-show-statistics: how much of a run tested refusals. Outside
        # a run (a replay, a rule called by hand) there is no one to tell.
        if currently_in_test_context():
            event(outcome)

    def _mutate(
        self, name: str, on_adapter: Callable[[], object], on_model: Callable[[], list[Output]]
    ) -> None:
        ran = self._run(name, on_adapter, on_model)
        if ran is None:
            return
        got, expected = cast(Iterable[Output], ran[0]), ran[1]
        if self.check_outputs:
            _check("outputs", self._ordered("outputs", got), self._ordered("outputs", expected))
        elif self.supports_notices:
            notices = [o for o in got or () if isinstance(o, _NOTICES)]
            _check("room notices", notices, [o for o in expected if isinstance(o, _NOTICES)])

    def _check_recipients(self, got: Iterable[str], expected: list[str], nsp: str) -> None:
        got = list(got)
        _check(
            "recipients", self._ordered("recipients", got), self._ordered("recipients", expected)
        )
        # Implied by equality with the model, but worth their own message.
        _check("a recipient twice", len(set(got)), len(got))

    # -- the operations, on both sides ------------------------------------------------------

    def _do_connect(self, nsp: str, sid: Any) -> None:
        self._mutate(
            "connect", lambda: self._a("connect")(nsp, sid), lambda: self.model.connect(nsp, sid)
        )

    def _do_connect_pending(self, nsp: str, sid: str) -> None:
        self._mutate(
            "connect_pending",
            lambda: self._a("connect_pending")(nsp, sid),
            lambda: self.model.connect(nsp, sid, pending=True),
        )

    def _on_socket(self, name: str, nsp: str, sid: str) -> None:
        # (With ``synchronous_disconnect`` too: the model's disconnect does both phases.)
        model_method: Callable[[str, str], list[Output]] = getattr(self.model, name)
        self._mutate(name, lambda: self._a(name)(nsp, sid), lambda: model_method(nsp, sid))

    def _do_accept(self, nsp: str, sid: str) -> None:
        self._on_socket("accept", nsp, sid)

    def _do_refuse(self, nsp: str, sid: str) -> None:
        self._on_socket("refuse", nsp, sid)

    def _do_begin_disconnect(self, nsp: str, sid: str) -> None:
        self._on_socket("begin_disconnect", nsp, sid)

    def _do_finish_disconnect(self, nsp: str, sid: str) -> None:
        self._on_socket("finish_disconnect", nsp, sid)

    def _do_disconnect(self, nsp: str, sid: str) -> None:
        self._on_socket("disconnect", nsp, sid)

    def _join_or_leave(self, name: str, nsp: str, sid: str, rooms: object) -> None:
        for_adapter, for_model = _sides(rooms)
        model_method: Callable[[str, str, object], list[Output]] = getattr(self.model, name)
        self._mutate(
            name,
            lambda: self._a(name)(nsp, sid, for_adapter),
            lambda: model_method(nsp, sid, for_model),
        )

    def _do_join(self, nsp: str, sid: str, rooms: object) -> None:
        self._join_or_leave("join", nsp, sid, rooms)

    def _do_leave(self, nsp: str, sid: str, rooms: object) -> None:
        self._join_or_leave("leave", nsp, sid, rooms)

    def _do_broadcast(self, nsp: str, rooms: object, except_: object, sender: str | None) -> None:
        (rooms_a, rooms_m), (except_a, except_m) = _sides(rooms), _sides(except_)
        expected: list[str] = []

        def on_model() -> list[Output]:
            expected.extend(self.model.recipients(nsp, rooms_m, except_m, None, sender))
            return []

        ran = self._run(
            "broadcast", lambda: self._a("broadcast")(nsp, rooms_a, except_a, sender), on_model
        )
        if ran is not None:
            self._check_recipients(ran[0], expected, nsp)

    def _do_members_of(self, nsp: str, rooms: object, except_: object, sids: object) -> None:
        (rooms_a, rooms_m), (except_a, except_m) = _sides(rooms), _sides(except_)
        expected: list[str] = []

        def on_model() -> list[Output]:
            expected.extend(self.model.members_of(nsp, rooms_m, except_=except_m, sids=sids))
            return []

        ran = self._run(
            "members_of", lambda: self._a("members_of")(nsp, rooms_a, except_a, sids), on_model
        )
        if ran is not None:
            self._check_recipients(ran[0], expected, nsp)

    def _bulk(self, name: str, nsp: str, names: object, rooms: object, except_: object, sids: Any):  # type: ignore[no-untyped-def]
        (names_a, names_m), (rooms_a, rooms_m) = _sides(names), _sides(rooms)
        except_a, except_m = _sides(except_)
        self._mutate(
            name,
            lambda: self._a(name)(nsp, names_a, rooms_a, except_a, sids),
            lambda: getattr(self.model, name)(
                nsp, names_m, rooms=rooms_m, except_=except_m, sids=sids
            ),
        )

    def _do_sockets_join(
        self, nsp: str, join: object, rooms: object, except_: object, sids: object
    ) -> None:
        self._bulk("sockets_join", nsp, join, rooms, except_, sids)

    def _do_sockets_leave(
        self, nsp: str, leave: object, rooms: object, except_: object, sids: object
    ) -> None:
        self._bulk("sockets_leave", nsp, leave, rooms, except_, sids)

    def _do_disconnect_sockets(
        self, nsp: str, rooms: object, except_: object, sids: object
    ) -> None:
        (rooms_a, rooms_m), (except_a, except_m) = _sides(rooms), _sides(except_)

        def on_model() -> list[Output]:
            outputs = self.model.disconnect_sockets(nsp, rooms=rooms_m, except_=except_m, sids=sids)
            if self.synchronous_disconnect:
                for order in list(outputs):
                    outputs += self.model.finish_disconnect(nsp, cast(Any, order).sid)
            return outputs

        self._mutate(
            "disconnect_sockets",
            lambda: self._a("disconnect_sockets")(nsp, rooms_a, except_a, sids),
            on_model,
        )

    def _do_close_room(self, nsp: str, room: object) -> None:
        self._mutate(
            "close_room",
            lambda: self._a("close_room")(nsp, fresh(room)),
            lambda: self.model.close_room(nsp, fresh(room)),
        )

    def _do_emit_with_ack(
        self, nsp: str, rooms: object, except_: object, sender: str | None, timeout: float
    ) -> None:
        (rooms_a, rooms_m), (except_a, except_m) = _sides(rooms), _sides(except_)
        now = self.now
        ran = self._run(
            "emit_with_ack",
            lambda: self._a("emit_with_ack")(nsp, rooms_a, except_a, sender, now, timeout),
            lambda: self.model.emit_with_ack(
                nsp, None, now=now, timeout=timeout, rooms=rooms_m, except_=except_m, sender=sender
            ),
        )
        if ran is None:
            return
        got, expected = list(cast(Iterable[Output], ran[0])), ran[1]
        _check("first output", type(got[0]) if got else None, Deliveries)
        deliveries, model_deliveries = cast(Deliveries, got[0]), cast(Deliveries, expected[0])
        in_flight = {self.ack_ids[m] for m in self.model.pending_acks() if m in self.ack_ids}
        _check("ack id already in flight", deliveries.ack_id in in_flight, False)
        self.ack_ids[cast(int, model_deliveries.ack_id)] = cast(int, deliveries.ack_id)
        self._check_recipients(deliveries.recipients, list(model_deliveries.recipients), nsp)
        self._check_completions(got[1:], expected[1:])

    def _completions(self, outputs: Iterable[Output], *, from_adapter: bool) -> list[object]:
        """Ack outputs as comparable values, under the model's ack ids."""
        model_id = {adapter_id: model_id for model_id, adapter_id in self.ack_ids.items()}
        return [
            (o.nsp, model_id.get(o.ack_id) if from_adapter else o.ack_id, o.responses, o.timed_out)
            if isinstance(o, AckCompleted)
            else o
            for o in outputs
        ]

    def _check_completions(self, got: Iterable[Output], expected: Iterable[Output]) -> None:
        _check(
            "completed acknowledgements",
            self._completions(got, from_adapter=True),
            self._completions(expected, from_adapter=False),
        )

    def _do_ack(self, nsp: str, sid: str, ack_id: int, response: Any) -> None:
        adapter_id = self.ack_ids.get(ack_id, ack_id)
        self._check_completions(
            _call(lambda: self._a("ack")(nsp, sid, adapter_id, response)),
            self.model.ack(nsp, sid, ack_id, response),
        )

    def _do_advance(self, seconds: float) -> None:
        self.now += seconds
        self._check_completions(
            _call(lambda: self._a("advance")(self.now)), self.model.advance(self.now)
        )

    # -- rules: connect, join, leave, broadcast, disconnect ---------------------------------

    def _rooms(self, data: st.DataObject, *, target: bool = False) -> object:
        """A rooms argument as a person passes it (``None`` is everybody, for a target)."""
        return data.draw(self._draw.target if target else self._draw.rooms)

    def _except(self, data: st.DataObject) -> object:
        return data.draw(self._draw.except_) if self.supports_except else []

    @initialize(data=st.data())
    def populate(self, data: st.DataObject) -> None:
        """A few sockets to start with: most rules need one."""
        for _ in range(data.draw(self._draw.population)):
            self.connect(data)

    @rule(data=st.data())
    def connect(self, data: st.DataObject) -> None:
        nsp, index, pending = data.draw(self._draw.connect)
        taken = {*self.model.sockets(nsp), *self.model.rooms(nsp)}
        if not self.check_ids:
            # Ids the implementation makes are never used twice.
            taken |= {
                s.args[1] for s in self.steps if s.name.startswith("connect") and s.args[0] == nsp
            }
        fresh_ids = [sid for sid in self.socket_ids if sid not in taken]
        if fresh_ids:
            name = "connect_pending" if self.supports_pending and pending >= 80 else "connect"
            self.perform(Step(name, (nsp, pick(fresh_ids, index))))

    @precondition(lambda self: self.supports_pending and self._has(_PENDING))
    @rule(index=PICK, accept=st.booleans())
    def accept_or_refuse(self, index: int, accept: bool) -> None:
        nsp, sid = pick(self._sockets_in(_PENDING), index)
        self.perform(Step("accept" if accept else "refuse", (nsp, sid)))

    @precondition(lambda self: not self.synchronous_disconnect and self._has(_CONNECTED))
    @rule(index=PICK)
    def begin_disconnect(self, index: int) -> None:
        self.perform(Step("begin_disconnect", pick(self._sockets_in(_CONNECTED), index)))

    @precondition(lambda self: self._has(_DISCONNECTING))
    @rule(index=PICK)
    def finish_disconnect(self, index: int) -> None:
        self.perform(Step("finish_disconnect", pick(self._sockets_in(_DISCONNECTING), index)))

    @precondition(lambda self: self._has(*_ANY_STATE))
    @rule(index=PICK)
    def disconnect(self, index: int) -> None:
        self.perform(Step("disconnect", pick(self._sockets_in(*_ANY_STATE), index)))

    def _joining(self) -> tuple[SocketState, ...]:
        if self.semantics.disconnecting_may_join:
            return _ANY_STATE
        return (_PENDING, _CONNECTED)

    @precondition(lambda self: self._has(*self._joining()))
    @rule(index=PICK, data=st.data())
    def join(self, index: int, data: st.DataObject) -> None:
        nsp, sid = pick(self._sockets_in(*self._joining()), index)
        self.perform(Step("join", (nsp, sid, self._rooms(data))))

    @precondition(lambda self: self._has(*_ANY_STATE))
    @rule(index=PICK, data=st.data())
    def leave(self, index: int, data: st.DataObject) -> None:
        nsp, sid = pick(self._sockets_in(*_ANY_STATE), index)
        # Mostly rooms it is in, or leaving would be a no-op.
        rooms = self._rooms(data) if index % 3 else self.model.rooms_of(nsp, sid)[:2]
        self.perform(Step("leave", (nsp, sid, rooms)))

    def _sender(self, nsp: str, index: int) -> str | None:
        # None half of the time; else a socket of the namespace in any state (the "user
        # left" notice is sent while disconnecting).
        sockets = self.model.sockets(nsp)
        return pick(sockets, index // 2) if sockets and index % 2 else None

    @rule(data=st.data())
    def broadcast(self, data: st.DataObject) -> None:
        nsp, index = data.draw(self._draw.where)
        rooms, except_ = self._rooms(data, target=True), self._except(data)
        self.perform(Step("broadcast", (nsp, rooms, except_, self._sender(nsp, index))))

    # -- rules: bulk operations -------------------------------------------------------------

    def _selection(self, data: st.DataObject) -> tuple[str, object, object, object]:
        nsp, _ = data.draw(self._draw.where)
        sids = data.draw(self._draw.sids) if self.supports_sids else None
        return nsp, self._rooms(data, target=True), self._except(data), sids

    @precondition(lambda self: self.supports_bulk)
    @rule(data=st.data())
    def members_of(self, data: st.DataObject) -> None:
        self.perform(Step("members_of", self._selection(data)))

    @precondition(lambda self: self.supports_bulk)
    @rule(data=st.data(), leave=st.booleans())
    def sockets_join_or_leave(self, data: st.DataObject, leave: bool) -> None:
        names = self._rooms(data)
        nsp, rooms, except_, sids = self._selection(data)
        name = "sockets_leave" if leave else "sockets_join"
        self.perform(Step(name, (nsp, names, rooms, except_, sids)))

    @precondition(lambda self: self.supports_bulk)
    @rule(data=st.data())
    def disconnect_sockets(self, data: st.DataObject) -> None:
        self.perform(Step("disconnect_sockets", self._selection(data)))

    @precondition(lambda self: self._closes_rooms)
    @rule(data=st.data())
    def close_room(self, data: st.DataObject) -> None:
        self.perform(Step("close_room", data.draw(self._draw.room)))

    # -- rules: what must be refused --------------------------------------------------------

    @precondition(lambda self: self.check_errors)
    @rule(data=st.data())
    def stray_socket(self, data: st.DataObject) -> None:
        """An operation on any id of the pool, whatever its state: unknown, gone, pending,
        disconnecting, or not an id at all. The profile says what must be refused."""
        operation, nsp, sid, index = data.draw(self._draw.stray)
        sockets = self._sockets_in(*_ANY_STATE)
        if sockets and index % 2 and operation != "connect":
            # A socket that exists, for the operations its state does not allow.
            nsp, sid = pick(sockets, index // 2)
        if operation == "connect":
            if self.check_ids:
                self.perform(Step("connect", (nsp, sid)))
        elif type(sid) is not str:
            return  # Only connect validates the id's type; elsewhere it is simply unknown.
        elif operation in ("join", "leave"):
            self.perform(Step(operation, (nsp, sid, self._rooms(data))))
        elif operation == "broadcast":
            self.perform(Step("broadcast", (nsp, self._rooms(data, target=True), [], sid)))
        elif operation == "emit_with_ack":
            if self.supports_acks:
                rooms = self._rooms(data, target=True)
                self.perform(Step("emit_with_ack", (nsp, rooms, [], sid, 1)))
        elif self._may_call(operation):
            self.perform(Step(operation, (nsp, sid)))

    def _may_call(self, operation: str) -> bool:
        if operation in ("accept", "refuse"):
            return self.supports_pending
        if operation in ("begin_disconnect", "finish_disconnect"):
            return not self.synchronous_disconnect
        return True

    @precondition(lambda self: self.check_errors)
    @rule(data=st.data())
    def bad_rooms(self, data: st.DataObject) -> None:
        """A value that is not a room (or a list of rooms) where one is expected."""
        operation, nsp, index, bad = data.draw(self._draw.bad)
        if operation in ("join", "leave"):
            sockets = self._sockets_in(*self._joining())
            if sockets:
                self.perform(Step(operation, (*pick(sockets, index), bad)))
        elif operation == "broadcast":
            self.perform(Step("broadcast", (nsp, bad, [], None)))
        elif operation == "broadcast except":
            if self.supports_except:
                self.perform(Step("broadcast", (nsp, None, bad, None)))
        elif operation == "close_room":
            if self._closes_rooms:
                self.perform(Step("close_room", (nsp, bad)))
        elif self.supports_bulk:
            if operation == "members_of":
                self.perform(Step("members_of", (nsp, bad, [], None)))
            else:
                self.perform(Step("sockets_join", (nsp, bad, None, [], None)))

    # -- rules: acknowledgements ------------------------------------------------------------

    @precondition(lambda self: self.supports_acks)
    @rule(data=st.data(), timeout=st.sampled_from([0, 1, 2.5, 10]))
    def emit_with_ack(self, data: st.DataObject, timeout: float) -> None:
        nsp, index = data.draw(self._draw.where)
        rooms, except_ = self._rooms(data, target=True), self._except(data)
        sender = self._sender(nsp, index)
        self.perform(Step("emit_with_ack", (nsp, rooms, except_, sender, timeout)))

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
        self.perform(Step("ack", (nsp, sid, model_id, response)))

    @precondition(lambda self: self.supports_acks)
    @rule(seconds=st.sampled_from([0, 0.5, 1, 3, 10]))
    def advance(self, seconds: float) -> None:
        self.perform(Step("advance", (seconds,)))

    def teardown(self) -> None:
        """The end of a run: an adapter with a ``close()`` method is closed."""
        close = getattr(self.adapter, "close", None)
        if callable(close):
            close()

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        """Both indexes tell the same story, no room is empty, and everything the adapter
        shows is what the model shows (one invariant: it runs after every step)."""
        try:
            self._check_state()
        except Mismatch as mismatch:
            raise AdapterDefect(type(self), list(self.steps), mismatch, after=True) from None

    def _check_state(self) -> None:
        seen = self._observe()
        for nsp, shown in seen.items():
            rooms_of, members = shown["rooms_of"], shown["members"]
            for room, sids in members.items():
                if not sids:
                    raise Mismatch(f"{nsp}: room {room!r} is empty, yet listed by rooms()")
                for sid in sids:
                    if sid not in rooms_of:
                        raise Mismatch(f"{nsp}: {sid!r} is a member of {room!r} but no socket")
                    if room not in rooms_of[sid]:
                        raise Mismatch(
                            f"{nsp}: {sid!r} is a member of {room!r}, which its rooms_of omits"
                        )
            for sid, rooms in rooms_of.items():
                for room in rooms:
                    if sid not in members.get(room, ()):
                        raise Mismatch(
                            f"{nsp}: {room!r} is in rooms_of({sid!r}) but {sid!r} is not "
                            "among its members"
                        )
        expected = self._expected()
        if seen != expected:
            raise Mismatch("state", details=diff(expected, seen))
        if self.supports_acks:
            deadline = _call(lambda: self._a("next_deadline")())
            _check("next_deadline()", deadline, self.model.next_deadline())


def _switch_off(flag: str) -> str:
    if flag.startswith("not "):
        return f"{flag[4:]} = True"
    return f"{flag} = False"
