"""An in-memory host for a :class:`RoomEngine`: it plays the transport and keeps what it gets.

A test (ours, or a user's) drives the engine through the harness and then asks what each
socket received, which notices came out and in what order, which acknowledgements completed
and which disconnects the engine ordered — instead of unpacking output lists by hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias, cast

from .._engine import RoomEngine
from .._events import Event
from .._names import Room
from .._outputs import (
    AckCompleted,
    Connected,
    Deliveries,
    Output,
    RoomCreated,
    RoomDeleted,
    RoomJoined,
    RoomLeft,
    SocketDisconnected,
    SocketDisconnecting,
)

__all__ = ["Harness", "Notice", "sequential_ids"]

#: A room notice, as the harness files them.
Notice: TypeAlias = RoomCreated | RoomJoined | RoomLeft | RoomDeleted


def sequential_ids(prefix: str = "s") -> Callable[[], str]:
    """An id factory for tests: ``"s1"``, ``"s2"``, ... Deterministic, so tests can name
    sockets before they exist, and two factories with the same prefix agree."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


class Harness:
    """Drives a :class:`RoomEngine` and records its outputs, as a host would act on them.

    By default the engine has room notices on and ids ``"s1"``, ``"s2"``, ... Every output is
    appended to ``outputs``; besides, deliveries are filed per socket (``received``/``take``),
    room notices go to ``notices``, completed acknowledgements to ``acks`` (by id), and the
    engine's disconnect orders to ``disconnecting`` until ``finish_disconnects()`` acts on
    them. The harness owns a clock, ``now``, which only ``advance`` moves.
    """

    def __init__(self, engine: RoomEngine | None = None, *, now: float = 0.0) -> None:
        self.engine = (
            engine
            if engine is not None
            else RoomEngine(id_factory=sequential_ids("s"), notices=True)
        )
        self.now = now
        self.outputs: list[Output] = []
        self.notices: list[Notice] = []
        self.acks: dict[int, AckCompleted] = {}
        self.connected: list[Connected] = []
        self.disconnecting: list[SocketDisconnecting] = []
        self.disconnected: list[SocketDisconnected] = []
        self._inbox: dict[str, list[tuple[str, Any]]] = {}

    # -- acting on outputs ------------------------------------------------------------------

    def apply(self, outputs: Iterable[Output]) -> list[Output]:
        """File each output where a test looks for it; returns them as a list."""
        outputs = list(outputs)
        for output in outputs:
            self.outputs.append(output)
            if isinstance(output, Deliveries):
                for sid in output.recipients:
                    self._inbox.setdefault(sid, []).append((output.nsp, output.payload))
            elif isinstance(output, (RoomCreated, RoomJoined, RoomLeft, RoomDeleted)):
                self.notices.append(output)
            elif isinstance(output, AckCompleted):
                self.acks[output.ack_id] = output
            elif isinstance(output, Connected):
                self.connected.append(output)
            elif isinstance(output, SocketDisconnecting):
                self.disconnecting.append(output)
            else:
                assert isinstance(output, SocketDisconnected)  # AckReceived is never asked for
                self.disconnected.append(output)
                # The order is carried out: finish_disconnects() must not finish it again.
                self.disconnecting = [
                    order
                    for order in self.disconnecting
                    if (order.nsp, order.sid) != (output.nsp, output.sid)
                ]
        return outputs

    def handle(self, event: Event) -> list[Output]:
        """``engine.handle(event)``, with its outputs applied."""
        return self.apply(self.engine.handle(event))

    def received(self, sid: str, nsp: str | None = None) -> list[Any]:
        """The payloads delivered to ``sid`` so far (in ``nsp`` only, if given), in order."""
        return [payload for where, payload in self._inbox.get(sid, ()) if nsp in (None, where)]

    def take(self, sid: str, nsp: str | None = None) -> list[Any]:
        """``received(sid, nsp)``, and forget them: the next ``take`` sees only newer ones."""
        taken = self.received(sid, nsp)
        self._inbox[sid] = [item for item in self._inbox.get(sid, ()) if nsp not in (None, item[0])]
        return taken

    def take_notices(self) -> list[Notice]:
        """The room notices so far, in order, and forget them."""
        notices, self.notices = self.notices, []
        return notices

    # -- driving the engine -----------------------------------------------------------------

    def connect(self, nsp: str = "/", *, sid: str | None = None, pending: bool = False) -> str:
        """Connect a socket (an id from the engine's factory unless given); its id."""
        if sid is None and pending:
            # The engine wants the id of a pending socket from the host, to accept it later.
            sid = self.engine.id_factory()
        outputs = self.apply(self.engine.namespace(nsp).connect(sid, pending=pending))
        # Not pending: the last output is Connected, which names the socket.
        return sid if sid is not None else cast(Connected, outputs[-1]).sid

    def accept(self, sid: str, nsp: str = "/") -> list[Output]:
        return self.apply(self.engine.namespace(nsp).accept(sid))

    def refuse(self, sid: str, nsp: str = "/") -> list[Output]:
        return self.apply(self.engine.namespace(nsp).refuse(sid))

    def join(self, sid: str, rooms: Room | Iterable[Room], nsp: str = "/") -> list[Output]:
        return self.apply(self.engine.namespace(nsp).join(sid, rooms))

    def leave(self, sid: str, rooms: Room | Iterable[Room], nsp: str = "/") -> list[Output]:
        return self.apply(self.engine.namespace(nsp).leave(sid, rooms))

    def emit(self, payload: Any, nsp: str = "/", **selection: Any) -> list[str]:
        """Broadcast ``payload``; the recipients, in delivery order. ``selection`` takes the
        keywords of ``Namespace.emit`` (``rooms``, ``except_``, ``sids``, ``sender``, flags)."""
        deliveries = self.engine.namespace(nsp).emit(payload, **selection)
        self.apply([deliveries])
        return list(deliveries.recipients)

    def emit_with_ack(
        self, payload: Any, nsp: str = "/", *, timeout: float, **selection: Any
    ) -> int:
        """Broadcast expecting answers before ``now + timeout``; the ack id. The result lands
        in ``acks[ack_id]`` when complete (at once if nobody was selected)."""
        outputs = self.apply(
            self.engine.namespace(nsp).emit_with_ack(
                payload, now=self.now, timeout=timeout, **selection
            )
        )
        # The first output is always the numbered Deliveries.
        return cast(int, cast(Deliveries, outputs[0]).ack_id)

    def ack(self, sid: str, ack_id: int, response: Any = None, nsp: str = "/") -> list[Output]:
        return self.apply(self.engine.namespace(nsp).ack(sid, ack_id, response))

    def advance(self, seconds: float) -> list[Output]:
        """Move the clock ``seconds`` forward and let the engine act on it."""
        self.now += seconds
        return self.apply(self.engine.advance(self.now))

    def begin_disconnect(self, sid: str, nsp: str = "/", **options: Any) -> list[Output]:
        return self.apply(self.engine.namespace(nsp).begin_disconnect(sid, **options))

    def finish_disconnect(self, sid: str, nsp: str = "/") -> list[Output]:
        return self.apply(self.engine.namespace(nsp).finish_disconnect(sid))

    def disconnect(self, sid: str, nsp: str = "/", **options: Any) -> list[Output]:
        return self.apply(self.engine.namespace(nsp).disconnect(sid, **options))

    def finish_disconnects(self) -> list[Output]:
        """Do what a host does with the disconnect orders received so far: finish each."""
        orders, self.disconnecting = self.disconnecting, []
        outputs: list[Output] = []
        for order in orders:
            outputs += self.finish_disconnect(order.sid, order.nsp)
        return outputs
