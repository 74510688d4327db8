"""Connection state recovery (Socket.IO 4.6+), the bookkeeping: what a server keeps so that a
client whose connection dropped comes back with its id, its rooms, its data and the events it
missed.

Two stores per namespace, both in time order:

* the **packet log**: every broadcast that recovery must replay (an EVENT without an ack, not
  volatile), with its target rooms and except rooms and the frames it went out as. Each has
  an *offset*, which the server appended to the event's arguments, and which a client sends
  back as the last one it received;
* the **sessions**: a socket that went away for a reason that allows recovery (a transport
  closed or failed, a ping timeout, a server shutting down) leaves ``{sid, pid, rooms, data}``
  under its private id ``pid``, which only that client was told.

A client that connects again within ``max_disconnection_duration`` with ``{pid, offset}`` in
its auth gets its socket back: the same id, its rooms joined again, its data, and the packets
of the log after its offset that its rooms would have received, sent before the CONNECT reply.
Anything else (an unknown or expired session, an offset no longer in the log) opens a new
session, as Node does.

Offsets: Node makes them from the wall clock (``yeast()``: milliseconds since the epoch in a
64-character alphabet, a ``.n`` suffix within one millisecond). The machine reads no clock:
its offsets write a sequence number, per namespace, in the same alphabet. Clients treat them
as opaque strings, and a sequence number finds its packet in the log without a search.

Time is passed in (monotonic seconds); ``expire(now)``, which the server machine runs every
``sweep_interval``, forgets what the window has passed: a client that never returns costs
nothing once its window has passed. A session is checked against the window when it is asked
for, whenever the last sweep was.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeAlias, final

import attrs

from ._acks import check_time
from ._errors import LocalProtocolError
from ._names import Room

__all__ = [
    "RECOVERABLE_DISCONNECT_REASONS",
    "ConnectionStateRecovery",
    "PacketLog",
    "RecoveredState",
    "RecoverySession",
    "RecoveryStore",
    "RestoredSession",
]

#: The disconnect reasons after which a session is kept for recovery (Node's
#: ``RECOVERABLE_DISCONNECT_REASONS``): the transport went away, not the client nor the
#: application.
RECOVERABLE_DISCONNECT_REASONS: Final = frozenset(
    {
        "transport error",
        "transport close",
        "forced close",
        "ping timeout",
        "server shutting down",
        "forced server close",
    }
)

_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
_DIGIT: Final = {character: value for value, character in enumerate(_ALPHABET)}
#: Longer offsets are not ours (2**66 packets): refused before decoding.
_MAX_OFFSET_LENGTH: Final = 11


#: Every two-digit string of the alphabet, by value: offsets are written two digits at a time.
_PAIRS: Final = tuple(high + low for high in _ALPHABET for low in _ALPHABET)


def encode_offset(sequence: int) -> str:
    """A packet's sequence number as an offset, in yeast's alphabet (``0`` is ``"0"``)."""
    if sequence < 4096:
        return _ALPHABET[sequence] if sequence < 64 else _PAIRS[sequence]
    sequence, low = divmod(sequence, 4096)
    return encode_offset(sequence) + _PAIRS[low]


def decode_offset(offset: str) -> int | None:
    """The sequence number an offset of ours writes, or ``None`` if it is not one."""
    if not offset or len(offset) > _MAX_OFFSET_LENGTH:
        return None
    sequence = 0
    for character in offset:
        digit = _DIGIT.get(character)
        if digit is None:
            return None
        sequence = sequence * 64 + digit
    # One number, one spelling: no leading zeros.
    return sequence if encode_offset(sequence) == offset else None


@final
@attrs.frozen(kw_only=True)
class ConnectionStateRecovery:
    """The server option that turns recovery on (Node's ``connectionStateRecovery``).

    ``max_disconnection_duration``: seconds a client has to come back (Node: 2 minutes), and
    how long a broadcast stays in the log; ``skip_middlewares``: a recovered socket skips the
    namespace's middleware (its connect handler still runs), as in Node; ``max_packets``: at
    most this many packets in a namespace's log (the oldest go first; a client whose offset
    went with them gets a new session), ``None`` for no limit but the window, as in Node.
    """

    max_disconnection_duration: float = attrs.field(default=120.0)
    skip_middlewares: bool = True
    max_packets: int | None = attrs.field(default=None)

    @max_disconnection_duration.validator
    def _check_duration(self, attribute: Any, value: float) -> None:
        check_time("max_disconnection_duration", value)

    @max_packets.validator
    def _check_max_packets(self, attribute: Any, value: int | None) -> None:
        if value is not None and (type(value) is not int or value < 1):
            raise LocalProtocolError(f"max_packets must be a positive int or None, not {value!r}")


@final
@attrs.frozen(kw_only=True)
class RecoverySession:
    """What a socket left behind for its client to take back."""

    sid: str
    pid: str
    rooms: tuple[Room, ...]
    data: Any
    disconnected_at: float


@final
@attrs.frozen(kw_only=True)
class RestoredSession:
    """A session taken back, and the frames of each packet its client missed, in order."""

    session: RecoverySession
    missed: tuple[Sequence[str | bytes], ...]


@final
@attrs.frozen(kw_only=True)
class RecoveredState:
    """A session taken back from a store outside the machine (a Redis Streams cluster: see
    :meth:`ServerMachine.complete_restore`): the socket's id, private id, rooms and data, and
    the events it missed, in order, each as the EVENT packet's data ``[event, *args]`` (its
    offset the last argument)."""

    sid: str
    pid: str
    rooms: tuple[Room, ...]
    data: Any = None
    missed: tuple[Sequence[Any], ...] = ()


#: One broadcast in the log: ``(rooms, except_rooms, messages, emitted_at)``, a tuple (one is
#: made per broadcast, on the hot path). No rooms: everyone.
_Packet: TypeAlias = tuple[tuple[Room, ...], tuple[Room, ...], Sequence[str | bytes], float]


def _reaches(packet: _Packet, rooms: frozenset[Room]) -> bool:
    """Whether a socket in ``rooms`` was a recipient (Node's ``shouldIncludePacket``)."""
    targets, excluded = packet[0], packet[1]
    return (not targets or not rooms.isdisjoint(targets)) and rooms.isdisjoint(excluded)


class PacketLog:
    """The packet log and the sessions of one namespace (:meth:`RecoveryStore.log`)."""

    __slots__ = ("first", "limit", "packets", "sessions")

    def __init__(self, limit: int | None) -> None:
        self.packets: deque[_Packet] = deque()
        self.first = 0  # the sequence number of packets[0] (of the next packet when empty)
        self.limit = limit
        self.sessions: dict[str, RecoverySession] = {}  # by pid, oldest disconnect first

    def next_offset(self) -> str:
        """The offset the next packet kept will have."""
        return encode_offset(self.first + len(self.packets))

    def keep(
        self,
        rooms: tuple[Room, ...],
        except_rooms: tuple[Room, ...],
        messages: Sequence[str | bytes],
        now: float,
    ) -> None:
        """Log a broadcast (its offset was :meth:`next_offset`): to the union of ``rooms``
        (none: everyone), minus the members of ``except_rooms`` (a sender is its id room)."""
        packets = self.packets
        packets.append((rooms, except_rooms, messages, now))
        if self.limit is not None and len(packets) > self.limit:
            packets.popleft()
            self.first += 1


class RecoveryStore:
    """The packet logs and sessions of every namespace of a server (see the module
    docstring)."""

    def __init__(self, options: ConnectionStateRecovery) -> None:
        self.options = options
        self._logs: dict[str, PacketLog] = {}

    def log(self, nsp: str) -> PacketLog:
        """The log of ``nsp`` (made at first use)."""
        log = self._logs.get(nsp)
        if log is None:
            log = self._logs[nsp] = PacketLog(self.options.max_packets)
        return log

    # -- the packet log ----------------------------------------------------------------------

    def packet_count(self, nsp: str) -> int:
        log = self._logs.get(nsp)
        return 0 if log is None else len(log.packets)

    # -- sessions ----------------------------------------------------------------------------

    def persist(
        self, nsp: str, *, sid: str, pid: str, rooms: Iterable[Room], data: Any, now: float
    ) -> None:
        """Keep what socket ``sid`` leaves behind, for ``max_disconnection_duration``."""
        sessions = self.log(nsp).sessions
        sessions.pop(pid, None)  # a second disconnect of one session: it moves to the end
        sessions[pid] = RecoverySession(
            sid=sid, pid=pid, rooms=tuple(rooms), data=data, disconnected_at=now
        )

    def session_count(self, nsp: str) -> int:
        log = self._logs.get(nsp)
        return 0 if log is None else len(log.sessions)

    def restore(self, nsp: str, auth: Any, now: float) -> RestoredSession | str | None:
        """Take back the session that ``auth`` (a CONNECT's ``{"pid", "offset"}``, both
        strings, as Node requires) names, with the packets missed since its offset; why not,
        as a sentence for the logs; or ``None`` when ``auth`` asks for no session. A session
        is taken back once: it is gone from the store afterwards."""
        if not isinstance(auth, dict):
            return None
        pid, offset = auth.get("pid"), auth.get("offset")
        if type(pid) is not str or type(offset) is not str:
            return None
        log = self._logs.get(nsp)
        session = None if log is None else log.sessions.get(pid)
        if log is None or session is None:
            return "unknown session (never seen here, already recovered, or expired)"
        window = self.options.max_disconnection_duration
        if session.disconnected_at + window < now:
            return "session expired"
        sequence = decode_offset(offset)
        if sequence is None or not log.first <= sequence < log.first + len(log.packets):
            return f"offset {offset!r} is not in the log (too old, or not one of ours)"
        del log.sessions[pid]
        rooms = frozenset(session.rooms)
        after = itertools.islice(log.packets, sequence - log.first + 1, None)
        missed = tuple(packet[2] for packet in after if _reaches(packet, rooms))
        return RestoredSession(session=session, missed=missed)

    # -- time --------------------------------------------------------------------------------

    @property
    def sweep_interval(self) -> float:
        """How often :meth:`expire` should run: every minute, as Node's timer, or at every
        window when that is shorter."""
        return min(60.0, self.options.max_disconnection_duration)

    def holds_anything(self) -> bool:
        return any(log.packets or log.sessions for log in self._logs.values())

    def expire(self, now: float) -> None:
        """Forget the packets and sessions older than the window."""
        window = self.options.max_disconnection_duration
        for log in self._logs.values():
            packets = log.packets
            while packets and packets[0][3] + window < now:
                packets.popleft()
                log.first += 1
            sessions = log.sessions
            while sessions:
                pid, session = next(iter(sessions.items()))
                if session.disconnected_at + window >= now:
                    break
                del sessions[pid]
