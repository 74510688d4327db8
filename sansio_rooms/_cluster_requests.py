"""The requests a server of a cluster has in flight: who must answer, until when.

A request (``fetch_sockets``, ``all_rooms``, ``server_side_emit`` with acks, a broadcast with
acks) waits for one answer per other server (and, for a broadcast, one per client those
servers reached). Time is passed in; the tracker keeps a heap of deadlines and says which is
next, as the acknowledgements' tracker does (``_acks.py``).
"""

from __future__ import annotations

import heapq
from typing import Any

from . import _cluster_wire as wire
from ._acks import check_time
from ._cluster_outputs import RequestCompleted, RequestKind
from ._cluster_wire import RequestType
from ._errors import RemoteProtocolError

__all__ = ["Request", "RequestTracker", "completed"]


class Request:
    """One request of this server: how many servers must answer, what came."""

    __slots__ = ("acks_expected", "expected", "kind", "nsp", "received", "responses")

    def __init__(self, kind: RequestKind, nsp: str, expected: int) -> None:
        self.kind = kind
        self.nsp = nsp
        self.expected = expected  # servers that must answer
        self.received = 0  # servers that answered
        self.responses: list[Any] = []
        self.acks_expected = 0  # broadcast_ack: clients the other servers reached

    def done(self) -> bool:
        if self.received < self.expected:
            return False
        return self.kind != "broadcast_ack" or len(self.responses) >= self.acks_expected


class RequestTracker:
    """The requests of one cluster machine (``machine.requests``)."""

    def __init__(self) -> None:
        self._requests: dict[str, Request] = {}
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._requests)

    def schedule(self, request_id: str, deadline: float) -> None:
        """The deadline of a request about to be added (a request whose message could not
        be built is never added: its deadline is skipped)."""
        heapq.heappush(self._deadlines, (deadline, request_id))

    def add(self, request_id: str, request: Request) -> None:
        self._requests[request_id] = request

    def cancel(self, request_id: str) -> None:
        self._requests.pop(request_id, None)

    def next_deadline(self) -> float | None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][1] not in self._requests:
            heapq.heappop(deadlines)
        return deadlines[0][0] if deadlines else None

    def advance(self, now: float) -> list[RequestCompleted]:
        check_time("now", now)
        outputs: list[RequestCompleted] = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, request_id = heapq.heappop(deadlines)
            request = self._requests.pop(request_id, None)
            if request is not None:
                outputs.append(completed(request_id, request, timed_out=True))
        return outputs

    def receive(self, response: dict[str, Any]) -> list[RequestCompleted]:
        """An answer (in the classic adapter's shape; the sharded ones are translated):
        :class:`RequestCompleted` if it was the last one awaited. An answer to a request
        this server does not have (another server's, or one already over) is ignored;
        :class:`RemoteProtocolError` if it is malformed."""
        request_id = response.get("requestId")
        request = self._requests.get(request_id) if isinstance(request_id, str) else None
        if request is None:
            return []  # another server's request, or one already over
        kind = response.get("type")
        if request.kind == "fetch_sockets":
            sockets = response.get("sockets")
            if not isinstance(sockets, list):
                raise RemoteProtocolError("a fetch_sockets answer without sockets")
            request.responses.extend(sockets)
            request.received += 1
        elif request.kind == "all_rooms":
            rooms = wire.rooms_from_wire(response.get("rooms"), "rooms")
            request.responses.extend(rooms)
            request.received += 1
        elif request.kind == "server_side_emit":
            request.responses.append(response.get("data"))
            request.received += 1
        elif kind == RequestType.BROADCAST_CLIENT_COUNT:
            count = response.get("clientCount")
            if type(count) is not int or count < 0:
                raise RemoteProtocolError(f"a client count that is not a count: {count!r:.40}")
            request.acks_expected += count
            request.received += 1
        elif kind == RequestType.BROADCAST_ACK:
            request.responses.append(response.get("packet"))
        else:
            raise RemoteProtocolError(f"an answer of type {kind!r} to a {request.kind} request")
        if not request.done():
            return []
        del self._requests[str(request_id)]
        return [completed(str(request_id), request, timed_out=False)]


def completed(request_id: str, request: Request, *, timed_out: bool) -> RequestCompleted:
    return RequestCompleted(
        request_id=request_id,
        kind=request.kind,
        responses=tuple(request.responses),
        timed_out=timed_out,
        expected=request.expected,
        received=request.received,
    )
