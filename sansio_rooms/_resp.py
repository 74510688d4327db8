"""RESP2, the Redis protocol, for a pub/sub subscriber connection: sans I/O.

A binding that keeps its own subscriber connection to Redis (trio's: its client library
cannot SSUBSCRIBE on a plain Redis 7) writes commands with :func:`encode_command` and feeds
what it reads to a :class:`RespParser`, which gives back whole replies however the bytes
were cut::

    >>> encode_command("SUBSCRIBE", "socket.io#/#")
    b'*2\\r\\n$9\\r\\nSUBSCRIBE\\r\\n$12\\r\\nsocket.io#/#\\r\\n'
    >>> parser = RespParser()
    >>> parser.feed(b"*3\\r\\n$7\\r\\nmessage\\r\\n$1\\r\\nc\\r\\n$2\\r")
    []
    >>> parser.feed(b"\\nhi\\r\\n+OK\\r\\n-ERR no\\r\\n")
    [[b'message', b'c', b'hi'], 'OK', RespError(message='ERR no')]

Replies are values: an array is a ``list`` (nested as sent), a bulk string ``bytes``, an
integer ``int``, a simple string ``str``, an error reply a :class:`RespError` (not raised:
the connection goes on), a null bulk string or array ``None``. Garbage from the server
raises :class:`RemoteProtocolError` (the replies before it in the same call are dropped
with it), and so does every later :meth:`RespParser.feed`: the connection is then out of
step and must be closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, TypeAlias, final

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["RespError", "RespParser", "encode_command"]

#: Redis refuses a bulk string longer than this (``proto-max-bulk-len``): so do we.
MAX_BULK: Final = 512 * 1024 * 1024
#: Arrays inside arrays at most this deep (a pub/sub reply nests one level).
MAX_DEPTH: Final = 32
#: The longest line (a simple string, an error, a length or an integer) we wait for.
MAX_LINE: Final = 64 * 1024

_INTEGER = re.compile(rb"-?[0-9]{1,19}")  # a signed 64-bit number fits in 19 digits
_LENGTH = re.compile(rb"-1|[0-9]{1,19}")


@final
@attrs.frozen
class RespError:
    """An error reply (``-ERR unknown command``): ``message`` is the line without the ``-``."""

    message: str


Reply: TypeAlias = "list[Reply] | bytes | int | str | RespError | None"


def encode_command(*args: bytes | str | int) -> bytes:
    """One command as Redis reads it (an array of bulk strings). ``str`` is written in UTF-8
    (lone surrogates as the bytes they stand for, so a channel name read with
    ``surrogateescape`` goes back unchanged), ``int`` in decimal."""
    if not args:
        raise LocalProtocolError("a command needs at least its name")
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode("utf-8", "surrogateescape")
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"a command argument is bytes, str or int, not {arg!r}")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _length(line: bytes, what: str) -> int:
    if _LENGTH.fullmatch(line) is None:
        raise RemoteProtocolError(f"invalid {what} length {line[:40]!r}")
    return int(line)


class RespParser:
    """Replies out of the bytes read from one connection (see the module docstring).

    ``max_bulk``, ``max_depth`` and ``max_line`` bound what one reply may hold: a bulk
    string longer, arrays nested deeper, or a line longer is refused as garbage.
    """

    def __init__(
        self, *, max_bulk: int = MAX_BULK, max_depth: int = MAX_DEPTH, max_line: int = MAX_LINE
    ) -> None:
        self.max_bulk = max_bulk
        self.max_depth = max_depth
        self.max_line = max_line
        self._buffer = bytearray()
        self._arrays: list[tuple[list[Reply], int]] = []  # open arrays: items, expected length
        self._bulk: int | None = None  # the length of the bulk string being read
        self._broken: str | None = None
        self._lines: dict[int, Callable[[bytes], tuple[bool, Reply]]] = {
            ord("+"): self._simple,
            ord("-"): self._error,
            ord(":"): self._integer,
            ord("$"): self._bulk_header,
            ord("*"): self._array_header,
        }

    def feed(self, data: bytes) -> list[Reply]:
        """Take ``data`` (any amount, cut anywhere) and return the replies now complete, in
        order; what follows the last one waits for the next call."""
        if self._broken is not None:
            raise RemoteProtocolError(f"the connection is out of step: {self._broken}")
        self._buffer += data
        replies: list[Reply] = []
        try:
            self._parse(replies)
        except RemoteProtocolError as error:
            self._broken = str(error)
            self._buffer.clear()
            raise
        return replies

    def _parse(self, replies: list[Reply]) -> None:
        """Append every whole reply in the buffer to ``replies``; keep the rest."""
        buffer = self._buffer
        while True:
            if self._bulk is not None:
                end = self._bulk
                if len(buffer) < end + 2:
                    return
                if buffer[end : end + 2] != b"\r\n":
                    raise RemoteProtocolError("a bulk string is longer than its length says")
                value: Reply = bytes(buffer[:end])
                del buffer[: end + 2]
                self._bulk = None
            else:
                end = buffer.find(b"\r\n", 0, self.max_line + 2)
                if end < 0:
                    limit = self.max_line
                    if len(buffer) > limit and buffer[limit : limit + 2] != b"\r":
                        raise RemoteProtocolError(f"a line longer than {self.max_line} bytes")
                    return
                parse = self._lines.get(buffer[0]) if end else None
                if parse is None:
                    raise RemoteProtocolError(f"not a RESP2 reply: {bytes(buffer[:end][:40])!r}")
                line = bytes(buffer[1:end])
                del buffer[: end + 2]
                complete, value = parse(line)
                if not complete:
                    continue
            while self._arrays:  # the value completes an element, maybe its arrays too
                items, expected = self._arrays[-1]
                items.append(value)
                if len(items) < expected:
                    break
                self._arrays.pop()
                value = items
            else:
                replies.append(value)

    def _simple(self, line: bytes) -> tuple[bool, Reply]:
        return True, line.decode("utf-8", "surrogateescape")

    def _error(self, line: bytes) -> tuple[bool, Reply]:
        return True, RespError(line.decode("utf-8", "replace"))

    def _integer(self, line: bytes) -> tuple[bool, Reply]:
        if _INTEGER.fullmatch(line) is None:
            raise RemoteProtocolError(f"invalid integer {line[:40]!r}")
        return True, int(line)

    def _bulk_header(self, line: bytes) -> tuple[bool, Reply]:
        length = _length(line, "bulk string")
        if length < 0:
            return True, None
        if length > self.max_bulk:
            raise RemoteProtocolError(f"a bulk string of {length} bytes (at most {self.max_bulk})")
        self._bulk = length
        return False, None

    def _array_header(self, line: bytes) -> tuple[bool, Reply]:
        length = _length(line, "array")
        if length < 0:
            return True, None
        if length == 0:
            return True, []
        if len(self._arrays) >= self.max_depth:
            raise RemoteProtocolError(f"arrays nested deeper than {self.max_depth}")
        self._arrays.append(([], length))
        return False, None
