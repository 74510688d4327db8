"""Broadcast acknowledgements in flight: who still owes an answer, and until when.

Time is passed in (``now``, monotonic seconds); the tracker keeps a heap of deadlines and
says which is next. An acknowledgement completes when every recipient answered, or at its
deadline with the answers so far; its bookkeeping is freed either way.
"""

from __future__ import annotations

import heapq
from typing import Any

from ._errors import LocalProtocolError
from ._outputs import AckCompleted, AckReceived, Output

__all__ = ["AckTracker", "check_time"]


def check_time(name: str, value: object) -> float:
    """``value`` if it is a non-negative real number (not a bool, not NaN)."""
    if type(value) not in (int, float) or value != value or value < 0:  # type: ignore[operator]
        raise LocalProtocolError(f"{name} must be a non-negative number, not {value!r}")
    return value  # type: ignore[return-value]


class _PendingAck:
    __slots__ = ("each", "nsp", "remaining", "responses")

    def __init__(self, nsp: str, remaining: dict[str, None], each: bool) -> None:
        self.nsp = nsp
        self.remaining = remaining
        self.responses: list[Any] = []
        self.each = each


class AckTracker:
    """The acknowledgements a :class:`RoomEngine` waits for (``engine.acks``)."""

    def __init__(self) -> None:
        self._pending: dict[int, _PendingAck] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._last_id = -1

    def __len__(self) -> int:
        return len(self._pending)

    def new_id(self) -> int:
        """A fresh packet id, unique in this engine (so per namespace too)."""
        self._last_id += 1
        return self._last_id

    def expect(
        self,
        nsp: str,
        ack_id: int,
        recipients: dict[str, None],
        deadline: float,
        *,
        each_response: bool = False,
    ) -> None:
        """Wait for one answer from each of ``recipients`` (the dict is kept and consumed).
        With ``each_response``, every answer is also reported as it comes (:class:`AckReceived`)."""
        self._pending[ack_id] = _PendingAck(nsp, recipients, each_response)
        heapq.heappush(self._deadlines, (deadline, ack_id))

    def receive(self, nsp: str, sid: str, ack_id: int, response: Any) -> list[Output]:
        """``sid`` answered; :class:`AckCompleted` if it was the last answer awaited."""
        pending = self._pending.get(ack_id)
        # Late, duplicate or foreign answers are the peer's doing, not the host's: ignored,
        # as Socket.IO ignores acks that arrive after the timeout.
        if pending is None or pending.nsp != nsp or sid not in pending.remaining:
            return []
        del pending.remaining[sid]
        pending.responses.append(response)
        outputs: list[Output] = (
            [AckReceived(nsp=nsp, ack_id=ack_id, sid=sid, response=response)]
            if pending.each
            else []
        )
        if pending.remaining:
            return outputs
        del self._pending[ack_id]
        if len(self._deadlines) > 2 * len(self._pending) + 64:
            # Completed early, their deadlines linger in the heap: compact it now and then,
            # so that a host that rarely calls advance() does not keep them all.
            self._deadlines = [d for d in self._deadlines if d[1] in self._pending]
            heapq.heapify(self._deadlines)
        outputs.append(
            AckCompleted(
                nsp=nsp, ack_id=ack_id, responses=tuple(pending.responses), timed_out=False
            )
        )
        return outputs

    def forget(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (its packet could not be sent): no answer and no
        :class:`AckCompleted` will come for it."""
        self._pending.pop(ack_id, None)

    def next_deadline(self) -> float | None:
        """The earliest deadline still pending, or ``None``."""
        deadlines = self._deadlines
        # Entries of acknowledgements completed early are dropped lazily, here and in advance.
        while deadlines and deadlines[0][1] not in self._pending:
            heapq.heappop(deadlines)
        return deadlines[0][0] if deadlines else None

    def advance(self, now: float) -> list[Output]:
        """Complete, as timed out, every acknowledgement whose deadline is ``<= now``."""
        check_time("now", now)
        deadlines = self._deadlines
        outputs: list[Output] = []
        while deadlines and deadlines[0][0] <= now:
            _, ack_id = heapq.heappop(deadlines)
            pending = self._pending.pop(ack_id, None)
            if pending is not None:
                outputs.append(
                    AckCompleted(
                        nsp=pending.nsp,
                        ack_id=ack_id,
                        responses=tuple(pending.responses),
                        timed_out=True,
                    )
                )
        return outputs
