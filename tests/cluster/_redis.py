"""A throwaway ``redis-server`` per test (or per module), and a tiny blocking RESP client.

The cluster tests never use a system Redis service: each :class:`RedisServer` runs its own
``redis-server`` child on a free loopback port, with persistence off, and kills it afterwards.
It can be killed (SIGKILL), stopped gracefully and restarted on the same port, so that the
adapter's reconnect paths can be tested against a real server.

:func:`command` speaks RESP2 over a plain socket (no redis-py needed), enough for PING, INFO,
PUBLISH, SPUBLISH, PUBSUB NUMSUB / SHARDNUMSUB and the like.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import IO, Self

__all__ = [
    "RedisError",
    "RedisServer",
    "RedisServerMissing",
    "command",
    "pubsub_numsub",
    "pubsub_shardnumsub",
    "redis_server_binary",
]

HOST = "127.0.0.1"
INSTALL_HINT = (
    "the cluster tests need a `redis-server` binary (Redis >= 7) on PATH: "
    "apt-get install redis-server (the tests start their own servers; no service is needed)"
)

RESPValue = bytes | int | list["RESPValue"] | None


class RedisServerMissing(RuntimeError):
    """No ``redis-server`` binary on PATH."""


class RedisError(Exception):
    """An error reply (``-ERR ...``) from the server."""


def redis_server_binary() -> str:
    """The path of ``redis-server`` on PATH; :class:`RedisServerMissing` names what to install."""
    path = shutil.which("redis-server")
    if path is None:
        raise RedisServerMissing(INSTALL_HINT)
    return path


# --- the tiny RESP client ------------------------------------------------------------------


def _encode(args: tuple[object, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = str(arg).encode()
        else:
            raise TypeError(f"RESP argument must be bytes, str or int, not {type(arg).__name__}")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis-server closed the connection")
        self._buf += chunk

    def _line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            self._fill()
        line, self._buf = self._buf[:end], self._buf[end + 2 :]
        return line

    def _exact(self, n: int) -> bytes:
        while len(self._buf) < n + 2:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n + 2 :]
        return data

    def read(self) -> RESPValue:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RedisError(f"unexpected RESP reply {line!r}")


def _port_of(target: int | str | RedisServer) -> int:
    if isinstance(target, RedisServer):
        return target.port
    if isinstance(target, int):
        return target
    match = re.fullmatch(r"redis://(?:[^@/]*@)?[^:/]+:(\d+)(?:/\d*)?", target)
    if match is None:
        raise ValueError(f"not a redis://host:port URL: {target!r}")
    return int(match.group(1))


def command(target: int | str | RedisServer, *args: object, timeout: float = 5.0) -> RESPValue:
    """Send one command to the server at ``target`` (a port, a redis:// URL or a server) and
    return its reply: ``+OK`` and bulk strings as bytes, integers as int, arrays as lists.

    Raises :class:`ConnectionRefusedError` when nothing listens there and :class:`RedisError`
    on an error reply. One connection per call: slow, simple, and nothing to clean up.
    """
    with socket.create_connection((HOST, _port_of(target)), timeout=timeout) as sock:
        sock.sendall(_encode(args))
        return _Reader(sock).read()


def pubsub_numsub(target: int | str | RedisServer, channel: str | bytes) -> int:
    """How many clients are subscribed to ``channel`` (PUBSUB NUMSUB; patterns not counted)."""
    reply = command(target, "PUBSUB", "NUMSUB", channel)
    assert isinstance(reply, list) and len(reply) == 2, reply
    count = reply[1]
    assert isinstance(count, int), reply
    return count


def pubsub_shardnumsub(target: int | str | RedisServer, channel: str | bytes) -> int:
    """How many clients are subscribed to the shard ``channel`` (PUBSUB SHARDNUMSUB, Redis 7)."""
    reply = command(target, "PUBSUB", "SHARDNUMSUB", channel)
    assert isinstance(reply, list) and len(reply) == 2, reply
    count = reply[1]
    assert isinstance(count, int), reply
    return count


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _parse_version(text: str) -> tuple[int, ...]:
    match = re.search(r"(?:redis_version:|v=)(\d+(?:\.\d+)*)", text)
    if match is None:
        raise RuntimeError(f"cannot read a Redis version from {text!r}")
    return tuple(int(part) for part in match.group(1).split("."))


# --- the server ----------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` child process on ``127.0.0.1:port``, persistence off.

    ``RedisServer()`` starts it on a free port and returns once it answers PING; use it as a
    context manager, or call :meth:`kill` / :meth:`stop` yourself. :meth:`restart` brings it
    back on the same port (so clients configured with :attr:`url` can reconnect).
    """

    def __init__(self, *, port: int | None = None, timeout: float = 10.0) -> None:
        self.binary = redis_server_binary()
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._version: tuple[int, ...] | None = None
        if port is not None:
            self.port = port
            self._start()
        else:
            # The free port may be taken by someone else before redis binds it: try others.
            for attempt in range(5):
                self.port = _free_port()
                try:
                    self._start()
                    break
                except RuntimeError:
                    if attempt == 4:
                        raise

    # -- properties

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_running and self._proc is not None else None

    @property
    def version(self) -> tuple[int, ...]:
        """The server's version, e.g. ``(7, 0, 15)``, from INFO (or ``--version`` when down)."""
        if self._version is None:
            if self.is_running:
                info = command(self, "INFO", "server")
                assert isinstance(info, bytes)
                self._version = _parse_version(info.decode())
            else:
                out = subprocess.run(
                    [self.binary, "--version"], capture_output=True, text=True, check=True
                ).stdout
                self._version = _parse_version(out)
        return self._version

    def require_version(self, minimum: tuple[int, ...]) -> None:
        """Fail (AssertionError) unless the server is at least ``minimum``, e.g. ``(7,)``."""
        assert self.version >= minimum, (
            f"redis-server {'.'.join(map(str, self.version))} is older than the "
            f"{'.'.join(map(str, minimum))} these tests need: {INSTALL_HINT}"
        )

    def command(self, *args: object, timeout: float = 5.0) -> RESPValue:
        """:func:`command` against this server."""
        return command(self, *args, timeout=timeout)

    def ping(self, timeout: float = 1.0) -> bool:
        """True when the server answers PING with PONG right now."""
        try:
            return command(self, "PING", timeout=timeout) == b"PONG"
        except (OSError, RedisError):
            return False

    # -- life cycle

    def _start(self) -> None:
        if self.is_running:
            raise RuntimeError(f"redis-server already running on port {self.port}")
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", "",  # the log goes to stdout: a temporary file, read if it fails
        ]  # fmt: skip
        log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open while the server runs)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(),  # nothing is written there (no RDB, no AOF)
            start_new_session=True,  # a Ctrl-C in the terminal is pytest's, not redis's
        )
        self._proc, self._log = proc, log
        deadline = time.monotonic() + self.timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if self._answers_as(proc.pid):
                return
            time.sleep(0.01)
        if proc.poll() is None:
            problem = f"did not answer PING in {self.timeout}s"
        else:
            problem = f"exited with status {proc.returncode}"
        output = self._read_log()
        self._terminate(signal.SIGKILL)
        raise RuntimeError(f"redis-server on port {self.port} {problem}: {output}")

    def _answers_as(self, pid: int) -> bool:
        """True once the server on our port answers, and is our process (not another one)."""
        try:
            info = command(self, "INFO", "server", timeout=0.5)
        except (OSError, RedisError):
            return False
        return isinstance(info, bytes) and f"process_id:{pid}\r\n".encode() in info

    def _read_log(self) -> str:
        log = self._log
        if log is None:
            return ""
        log.seek(0)
        return log.read().decode(errors="replace").strip()[-2000:]

    def _terminate(self, sig: signal.Signals, wait: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        log, self._log = self._log, None
        try:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if log is not None:
                log.close()

    def kill(self) -> None:
        """SIGKILL the server and wait for it: clients see their connections reset."""
        self._terminate(signal.SIGKILL)

    def stop(self) -> None:
        """Stop gracefully (SHUTDOWN NOSAVE, SIGTERM as the fallback) and wait for the exit."""
        if not self.is_running:
            self._terminate(signal.SIGTERM)  # reap a server that died by itself
            return
        with contextlib.suppress(OSError, RedisError):
            command(self, "SHUTDOWN", "NOSAVE", timeout=2.0)  # the reply is a closed socket
        self._terminate(signal.SIGTERM)

    def restart(self, *, attempts: int = 20) -> None:
        """Start again on the same port (after :meth:`kill` or :meth:`stop`, or kill first).

        The port may briefly be unavailable after the old process died: retried a few times.
        """
        if self.is_running:
            self.kill()
        for attempt in range(attempts):
            try:
                self._start()
                return
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "down"
        return f"<RedisServer {self.url} {state}>"
