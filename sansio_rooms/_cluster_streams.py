"""The Redis Streams mode of the cluster machine (``ClusterMachine(server, streams=True)``).

Node's ``@socket.io/redis-streams-adapter`` 0.3 (the wire is :mod:`._streams_wire`): what must
survive a reconnection (broadcasts without acks, ``sockets_join``, ``sockets_leave``,
``disconnect_sockets``) is appended to a stream, the rest (requests, answers) goes over pub/sub
as in the sharded adapter, always MessagePack. What this module adds to the machine:

* :class:`RedisCommand` outputs: ``XADD`` of a message, ``SET`` of a session. The host runs
  them in order with the :class:`Publish` outputs, and hands the reply of one with a
  ``reply_to`` back (:meth:`StreamsMode.command_replied`). A broadcast is delivered to this
  server's clients then, not before, with the entry id as its offset when connection state
  recovery is on, as Node does (a failed ``XADD``: delivered all the same, without one);
* the reading of the streams: the host loops on :meth:`StreamsMode.read_command` (a blocking
  ``XREAD`` from the last entry read), on a connection of its own per stream, and feeds every
  reply to :meth:`StreamsMode.receive_stream`. The first read starts after the entry that was
  last when the host asked :meth:`StreamsMode.start_command` (Node starts at ``$``, its first
  ``XREAD``, and loses what comes in between);
* connection state recovery across the cluster: with it on, the server machine keeps nothing
  (``external_recovery``): a recoverable disconnect's :class:`PersistSession` becomes a
  ``SET`` (:meth:`StreamsMode.persist_session`), and a CONNECT's :class:`RestoreSession` a
  :class:`SessionRestore`, Node's ``restoreSession`` one step at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeAlias

from . import _streams_wire as sw
from ._cluster_outputs import ClusterOutput, MessageDropped, RedisCommand
from ._cluster_wire import ClusterMessageType
from ._errors import LocalProtocolError, RemoteProtocolError, SansioRoomsError
from ._names import Room
from ._recovery import RecoveredState

if TYPE_CHECKING:
    from ._server import PersistSession, RestoreSession, ServerMachine

__all__ = ["SessionRestore", "StreamsMode"]

#: What a message that cannot be applied raises (as in :meth:`ClusterMachine.receive`).
_DROPPED: Final = (RemoteProtocolError, SansioRoomsError, TypeError, ValueError, KeyError)
#: Node's failure for an offset or a session that is not there any more.
NOT_FOUND: Final = "session or offset not found"


class SessionRestore:
    """One session restore, as Node's ``restoreSession`` does it, sans I/O.

    1. unless :attr:`result` is set already (an offset that is not an entry id fails at
       once, "invalid offset"), take the session: ``MULTI / GET key / DEL key / EXEC`` with
       :attr:`key`, and check the offset with the command :attr:`check`; give the ``EXEC``
       reply (``[value, deleted]``) and the ``XRANGE`` one to :meth:`taken`;
    2. while it returns a command (an ``XRANGE`` of what follows), run it and give the reply
       to :meth:`ranged`;
    3. :attr:`result` is then a :class:`RecoveredState` or why not, for
       :meth:`ServerMachine.complete_restore`. A command that failed: :meth:`failed`.
    """

    def __init__(self, request: RestoreSession, *, stream: str, key_prefix: str) -> None:
        self.request = request
        self.stream = stream
        self.key = sw.session_key(request.pid, prefix=key_prefix)
        self.result: RecoveredState | str | None = None
        self.check: list[str] = []
        self.calls = 0
        self._session: sw.PersistedSession | None = None
        self._last = request.offset
        self._missed: list[list[Any]] = []
        if not sw.is_offset(request.offset):
            self.result = "invalid offset"
        else:
            self.check = sw.xrange_command(stream, request.offset, request.offset)

    def taken(self, exec_reply: object, check_reply: object) -> list[str] | None:
        """The session taken (the ``EXEC`` reply) and the offset checked: the next command,
        or ``None`` when :attr:`result` is known."""
        try:
            session = sw.session_of_exec_reply(exec_reply)
            found = sw.entries_of_xrange_reply(check_reply)
        except RemoteProtocolError as error:
            self.failed(f"unreadable reply: {error}")
            return None
        if session is None or not found:
            self.failed(NOT_FOUND)
            return None
        self._session = session
        return self._next()

    def ranged(self, reply: object) -> list[str] | None:
        """The reply of the last ``XRANGE``: the next one, or ``None`` when done."""
        session = self._session
        assert session is not None, "ranged() comes after taken()"
        try:
            entries = sw.entries_of_xrange_reply(reply)
            missed = sw.missed_packets(entries, self.request.nsp, session.rooms, volatile=False)
        except RemoteProtocolError as error:
            self.failed(f"a missed packet is unreadable: {error}")
            return None
        if not entries:
            self._finish()
            return None
        self._missed += missed
        self._last = entries[-1].id
        return self._next()

    def failed(self, reason: str) -> None:
        """The restore failed (a command could not run): ``reason`` is its result."""
        self.result = reason

    def _next(self) -> list[str] | None:
        if self.calls >= sw.RESTORE_MAX_XRANGE_CALLS:
            self._finish()
            return None
        self.calls += 1
        return sw.xrange_command(self.stream, sw.next_offset(self._last))

    def _finish(self) -> None:
        session = self._session
        assert session is not None
        self.result = RecoveredState(
            sid=session.sid,
            pid=session.pid,
            rooms=session.rooms,
            data=session.data,
            missed=tuple(self._missed),
        )


#: What to do once an XADD is answered: deliver a broadcast here (its arguments).
#: ``(nsp, event, args, rooms, except, volatile, compress)``.
_LocalBroadcast: TypeAlias = tuple[
    str, str, tuple[Any, ...], tuple[Room, ...] | None, tuple[Room, ...], bool, bool
]


class StreamsMode:
    """The streams mode's part of :class:`ClusterMachine` (a mixin: ``self`` is the machine).
    See the module docstring."""

    server: ServerMachine
    uid: str
    streams: bool
    stream_name: str
    stream_count: int
    max_len: int
    session_key_prefix: str
    _offsets: dict[str, str]
    _after_add: dict[int, _LocalBroadcast]
    _last_command: int

    def _init_streams(
        self,
        *,
        stream_name: str,
        stream_count: int,
        max_len: int,
        session_key_prefix: str,
    ) -> None:
        if type(max_len) is not int or max_len < 0:
            raise LocalProtocolError(f"max_len must be an int >= 0, not {max_len!r}")
        if type(session_key_prefix) is not str:
            raise LocalProtocolError(f"session_key_prefix is a string, not {session_key_prefix!r}")
        names = sw.stream_names(stream_name=stream_name, stream_count=stream_count)
        self.stream_name, self.stream_count = stream_name, stream_count
        self.max_len = max_len
        self.session_key_prefix = session_key_prefix
        self._offsets = dict.fromkeys(names, sw.FIRST_OFFSET)
        self._after_add = {}
        self._last_command = 0
        if self.streams and self.server.recovery is not None:
            # The sessions and the kept broadcasts are in Redis, for every server to find.
            self.server.external_recovery = True

    def _check_streams(self) -> None:
        if not self.streams:
            raise LocalProtocolError("this cluster machine is not in streams mode")

    # -- the streams, read ----------------------------------------------------------------------

    def stream_names(self) -> list[str]:
        """The streams to read, each on a connection of its own."""
        self._check_streams()
        return list(self._offsets)

    def stream_of(self, nsp: str) -> str:
        """The stream of a namespace's messages."""
        return sw.stream_name_of(nsp, stream_name=self.stream_name, stream_count=self.stream_count)

    def start_command(self, stream: str) -> list[str]:
        """Where to start reading ``stream``: the last entry now (its reply goes to
        :meth:`started`), so that nothing added after this server joined is missed."""
        self._known_stream(stream)
        return ["XREVRANGE", stream, "+", "-", "COUNT", "1"]

    def started(self, stream: str, reply: object) -> list[ClusterOutput]:
        """The reply of :meth:`start_command`: reading starts after that entry."""
        self._known_stream(stream)
        try:
            entries = sw.entries_of_xrange_reply(reply)
        except RemoteProtocolError as error:
            return [MessageDropped(channel=stream, reason=f"RemoteProtocolError: {error}")]
        self._offsets[stream] = entries[-1].id if entries else "0-0"
        return []

    def read_command(
        self, stream: str, *, count: int = sw.READ_COUNT, block_ms: int = sw.BLOCK_MS
    ) -> list[str]:
        """The next blocking ``XREAD`` of ``stream``; its reply goes to :meth:`receive_stream`
        (``None`` when it timed out)."""
        self._known_stream(stream)
        return sw.xread_command(stream, self._offsets[stream], count=count, block_ms=block_ms)

    def _known_stream(self, stream: str) -> None:
        self._check_streams()
        if stream not in self._offsets:
            raise LocalProtocolError(f"{stream!r} is not a stream this server reads")

    def receive_stream(self, stream: str, reply: object, now: float) -> list[Any]:
        """The reply of :meth:`read_command`: what its entries mean here (as
        :meth:`receive`), and the next read starts after the last of them. A malformed reply
        or entry is dropped and reported (:class:`MessageDropped`), never raised."""
        self._known_stream(stream)
        try:
            entries = sw.entries_of_xread_reply(reply)
        except RemoteProtocolError as error:
            return [MessageDropped(channel=stream, reason=f"RemoteProtocolError: {error}")]
        outputs: list[Any] = []
        for entry in entries:
            self._offsets[stream] = entry.id
            try:
                message = sw.decode_entry(entry)
                if message is not None:
                    outputs += self._apply_message(message, now, entry.id)
            except (
                RemoteProtocolError,
                SansioRoomsError,
                TypeError,
                ValueError,
                KeyError,
            ) as error:
                reason = f"{type(error).__name__}: {error}"
                outputs.append(MessageDropped(channel=f"{stream} {entry.id}", reason=reason))
        return outputs

    def _apply_message(
        self, message: dict[str, Any], now: float, offset: str | None = None
    ) -> list[Any]:
        raise NotImplementedError  # pragma: no cover - ClusterMachine's

    # -- the streams, written -------------------------------------------------------------------

    def _stream_add(
        self,
        nsp: str,
        kind: ClusterMessageType,
        data: dict[str, Any],
        local: _LocalBroadcast | None = None,
    ) -> RedisCommand:
        """The XADD of a message; ``local``: the broadcast to deliver here once answered."""
        command = sw.xadd_command(
            self.stream_of(nsp), self.uid, nsp, kind, data, max_len=self.max_len
        )
        if local is None:
            return RedisCommand(command=tuple(command))
        self._last_command += 1
        self._after_add[self._last_command] = local
        return RedisCommand(command=tuple(command), reply_to=self._last_command)

    def command_replied(self, ref: int, reply: object, now: float) -> list[Any]:
        """The reply of the :class:`RedisCommand` whose ``reply_to`` is ``ref`` (``None``, or
        an exception, when it failed): the broadcast it carried is delivered to this server's
        clients, with its offset when connection state recovery is on."""
        local = self._after_add.pop(ref, None)
        if local is None:
            raise LocalProtocolError(f"no command waits for reply {ref!r}")
        nsp, event, args, rooms, except_, volatile, compress = local
        offset = None
        outputs: list[Any] = []
        if self.server.recovery is not None and not volatile and reply is not None:
            try:
                offset = sw.offset_of_xadd_reply(reply)
            except RemoteProtocolError as error:
                reason = f"RemoteProtocolError: {error}"
                outputs.append(MessageDropped(channel=self.stream_of(nsp), reason=reason))
        if nsp not in self.server.namespaces():
            return outputs  # gone meanwhile (an empty dynamic child): nobody to deliver to
        outputs += self.server.emit(
            nsp,
            event,
            *args,
            rooms=rooms,
            except_=except_,
            volatile=volatile,
            compress=compress,
            now=now,
            offset=offset,
        )
        return outputs

    # -- connection state recovery ------------------------------------------------------------

    def persist_session(self, output: PersistSession) -> list[ClusterOutput]:
        """The ``SET`` that keeps a session in Redis for the recovery window (Node's
        ``persistSession``). Data MessagePack cannot hold: nothing kept, reported."""
        self._check_streams()
        recovery = self.server.recovery
        if recovery is None:
            raise LocalProtocolError("connection state recovery is off")
        expiry = max(1, round(recovery.options.max_disconnection_duration * 1000))
        session = sw.PersistedSession(
            sid=output.sid, pid=output.pid, rooms=output.rooms, data=output.data
        )
        try:
            command = sw.persist_session_command(
                session, expiry_ms=expiry, prefix=self.session_key_prefix
            )
        except (TypeError, ValueError) as error:
            key = sw.session_key(output.pid, prefix=self.session_key_prefix)
            return [MessageDropped(channel=key, reason=f"session not kept: {error}")]
        return [RedisCommand(command=tuple(command))]

    def restore(self, request: RestoreSession) -> SessionRestore:
        """The steps of a restore the server machine asked for (see :class:`SessionRestore`)."""
        self._check_streams()
        return SessionRestore(
            request, stream=self.stream_of(request.nsp), key_prefix=self.session_key_prefix
        )
