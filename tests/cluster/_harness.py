"""Processes of a mixed test cluster, each driven by JSON lines over stdin/stdout.

Synchronous and thread-based, so that any test (asyncio, trio or plain) can use it:

* :class:`JsonLineProcess` runs a command; a reader thread routes the reply lines to the
  callers waiting on their ``id`` and collects the ``event`` lines;
* :class:`NodePeer` is ``node/peer.mjs``, a Socket.IO server with the Node Redis adapter;
* :class:`PythonPeer` is ``_py_peer.py`` (this project's cluster layer), same protocol;
* :class:`NodeClients` is ``node/clients.mjs``, any number of socket.io-client clients.

They all take a Redis URL: the ``redis-server`` of the test's own comes from ``_redis.py``
(the ``redis_server`` fixture).

Both peers satisfy :class:`Peer`, so a test can mix them freely. The protocol is specified in
``HARNESS.md`` next to this file. Binary values travel as ``{"$bin": "<base64>"}``;
:func:`to_wire` and :func:`from_wire` convert ``bytes`` both ways, so the methods here take
and return ``bytes``.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import pytest

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
PEER_SCRIPT = NODE_DIR / "peer.mjs"
CLIENTS_SCRIPT = NODE_DIR / "clients.mjs"
PY_PEER_SCRIPT = HERE / "_py_peer.py"
NPM_CI = "cd tests/cluster/node && npm ci"

DEFAULT_TIMEOUT = 10.0  # seconds a command may take, unless told otherwise
READY_TIMEOUT = 15.0  # seconds a process may take to print its "ready" event
CLOSE_TIMEOUT = 5.0  # seconds between "quit" and the kill
STDERR_TAIL = 4000  # characters of stderr quoted in error messages

Room = str | int | float
Rooms = Room | Sequence[Room]
Predicate = Callable[[dict[str, Any]], bool] | Mapping[str, Any]


class HarnessError(Exception):
    """A command failed (``message`` is the process' own error text), got no reply in time, or
    the process died. ``str()`` adds the process, the operation and the tail of its stderr."""

    def __init__(self, message: str, *, label: str = "", op: str = "", stderr: str = "") -> None:
        self.message = message
        self.label = label
        self.op = op
        self.stderr = stderr
        where = ": ".join(part for part in (label, op) if part)
        text = f"{where}: {message}" if where else message
        if stderr.strip():
            text += f"\n--- stderr of {label or 'the process'} (tail) ---\n{stderr[-STDERR_TAIL:]}"
        super().__init__(text)


# ---------------------------------------------------------------------------------------------
# values


def to_wire(value: Any) -> Any:
    """``bytes`` (also inside lists, tuples and dicts) to ``{"$bin": base64}``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """``{"$bin": base64}`` (also nested) to ``bytes``."""
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bin"), str):
            return base64.b64decode(value["$bin"])
        return {key: from_wire(item) for key, item in value.items()}
    return value


def _rooms(rooms: Rooms | None) -> list[Room]:
    if rooms is None:
        return []
    if isinstance(rooms, str | int | float):
        return [rooms]
    return list(rooms)


def _matcher(predicate: Predicate) -> Callable[[dict[str, Any]], bool]:
    if callable(predicate):
        return predicate
    wanted = dict(predicate)
    return lambda event: all(key in event and event[key] == v for key, v in wanted.items())


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------------
# one process


class _Pending:
    """A command waiting for its reply: ``done`` is set with ``result`` or ``error``, or with
    ``ended`` when the process ended first."""

    __slots__ = ("done", "ended", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self.ended = False


class JsonLineProcess:
    """A child process speaking the JSON-lines protocol of ``HARNESS.md``.

    ``call(op, **fields)`` writes ``{"id": n, "op": op, **fields}`` and waits for the line with
    that ``id``. Lines with an ``event`` key are appended to :attr:`events` (decoded with
    :func:`from_wire`); :meth:`wait_event` waits for one. stderr is kept in a buffer
    (:attr:`stderr`) and quoted in error messages. Thread-safe: several threads may call at once.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        label: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.args = [str(a) for a in args]
        self.label = label or Path(self.args[1] if len(self.args) > 1 else self.args[0]).name
        self.events: list[dict[str, Any]] = []
        self.stray: list[str] = []  # stdout lines that are neither replies nor events
        self._cond = threading.Condition()
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._stderr_chunks: list[str] = []
        self._ended = False
        self._closed = False
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=None if env is None else dict(env),
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, name=f"{self.label} stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"{self.label} stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} pid={self.process.pid}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stderr(self) -> str:
        with self._cond:
            return "".join(self._stderr_chunks)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self._ended

    # -- reading

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            with self._cond:
                if isinstance(message, dict) and "id" in message and "event" not in message:
                    pending = self._pending.pop(message["id"], None)
                    if pending is not None:
                        if "error" in message:
                            pending.error = str(message["error"])
                        else:
                            pending.result = from_wire(message.get("result"))
                        pending.done.set()
                    else:
                        self.stray.append(line)
                elif isinstance(message, dict) and "event" in message:
                    self.events.append(from_wire(message))
                    self._cond.notify_all()
                else:
                    self.stray.append(line)
                    self._stderr_chunks.append(f"[stray stdout] {line}\n")
        with self._cond:
            self._ended = True
            for pending in self._pending.values():
                pending.ended = True
                pending.done.set()
            self._pending.clear()
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            with self._cond:
                self._stderr_chunks.append(raw.decode("utf-8", errors="replace"))

    def _ended_error(self, op: str) -> HarnessError:
        code = self.process.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.process.wait(0.5)
        return HarnessError(
            f"the process ended (exit code {code})", label=self.label, op=op, stderr=self.stderr
        )

    # -- commands

    def send(self, op: str, **fields: Any) -> _Pending:
        """Writes a command, returns without waiting (``.done`` is set on the reply)."""
        if "id" in fields or "op" in fields:
            raise ValueError(f"{op}: a command's fields cannot be named id or op")
        pending = _Pending()
        with self._cond:
            if self._ended or self._closed:
                raise self._ended_error(op)
            ident = next(self._ids)
            self._pending[ident] = pending
        line = json.dumps({"id": ident, "op": op, **to_wire(fields)}, ensure_ascii=False) + "\n"
        try:
            with self._write_lock:
                assert self.process.stdin is not None
                self.process.stdin.write(line.encode("utf-8"))
                self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            with self._cond:
                self._pending.pop(ident, None)
            raise self._ended_error(op) from None
        return pending

    def call(self, op: str, timeout: float = DEFAULT_TIMEOUT, **fields: Any) -> Any:
        """Runs ``op`` and returns its result; raises :class:`HarnessError` on an error reply,
        after ``timeout`` seconds without a reply, or when the process ends."""
        pending = self.send(op, **fields)
        if not pending.done.wait(timeout):
            raise HarnessError(
                f"no reply within {timeout} s (fields: {fields!r})",
                label=self.label,
                op=op,
                stderr=self.stderr,
            )
        if pending.ended:
            raise self._ended_error(op)
        if pending.error is not None:
            raise HarnessError(pending.error, label=self.label, op=op, stderr=self.stderr)
        return pending.result

    # -- events

    def mark(self) -> int:
        """The number of events so far: pass it as ``since`` to wait for later ones only."""
        with self._cond:
            return len(self.events)

    def events_matching(self, predicate: Predicate, *, since: int = 0) -> list[dict[str, Any]]:
        match = _matcher(predicate)
        with self._cond:
            return [event for event in self.events[since:] if match(event)]

    def wait_event(
        self, predicate: Predicate, timeout: float = 5.0, *, since: int = 0
    ) -> dict[str, Any]:
        """The first event from index ``since`` on that matches: ``predicate`` is a function of
        the event or a dict of fields it must have. Raises :class:`HarnessError` on timeout or
        when the process ends first."""
        return self.wait_events(predicate, 1, timeout, since=since)[0]

    def wait_events(
        self, predicate: Predicate, count: int, timeout: float = 5.0, *, since: int = 0
    ) -> list[dict[str, Any]]:
        """The first ``count`` matching events from index ``since`` on (see :meth:`wait_event`)."""
        match = _matcher(predicate)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [event for event in self.events[since:] if match(event)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    recent = "\n  ".join(
                        json.dumps(to_wire(event), ensure_ascii=False)[:300]
                        for event in self.events[since:][-20:]
                    )
                    why = "the process ended" if self._ended else f"not within {timeout} s"
                    raise HarnessError(
                        f"{why}: {len(found)} of {count} events matching {predicate!r}; "
                        f"last events (at most 20):\n  {recent}",
                        label=self.label,
                        op="wait_event",
                        stderr="".join(self._stderr_chunks),
                    )
                self._cond.wait(left)

    def errors(self) -> list[dict[str, Any]]:
        """The ``error`` events so far (the process reports unhandled errors this way)."""
        return self.events_matching({"event": "error"})

    # -- end

    def close(self, timeout: float = CLOSE_TIMEOUT) -> int | None:
        """Sends ``quit``, waits up to ``timeout`` seconds for the exit, then kills. Idempotent.
        Returns the exit code."""
        if self._closed:
            return self.process.returncode
        if self.process.poll() is None and not self._ended:
            with contextlib.suppress(HarnessError):
                self.send("quit")
        self._closed = True
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()  # the processes also quit at the end of stdin
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        for thread in self._threads:
            thread.join(2)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.process.returncode

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        """Waits for the ``ready`` event; on failure closes the process and raises."""
        try:
            return self.wait_event({"event": "ready"}, timeout)
        except HarnessError as error:
            self.close(1)
            raise HarnessError(
                f"did not start: {error.message}", label=self.label, stderr=self.stderr
            ) from None


# ---------------------------------------------------------------------------------------------
# setup checks


def _node_executable() -> str:
    """``node`` from the PATH, with the pinned packages installed; fails the test otherwise."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "cluster harness: `node` is not on the PATH; the mixed-cluster tests need "
            f"Node.js >= 18 and the pinned npm packages (`{NPM_CI}`)",
            pytrace=False,
        )
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    for package, version in wanted.items():
        manifest = NODE_DIR / "node_modules" / package / "package.json"
        if not manifest.is_file():
            pytest.fail(
                f"cluster harness: tests/cluster/node/node_modules/{package} is missing; "
                f"install the pinned packages first: `{NPM_CI}`",
                pytrace=False,
            )
        installed = json.loads(manifest.read_text())["version"]
        if installed != version:
            pytest.fail(
                f"cluster harness: {package} {installed} is installed, {version} is pinned; "
                f"reinstall: `{NPM_CI}`",
                pytrace=False,
            )
    return node


# ---------------------------------------------------------------------------------------------
# peers


@runtime_checkable
class Peer(Protocol):
    """What a test may do with a server of the cluster, whatever its implementation. The
    methods are the commands of ``HARNESS.md``; ``except_`` is the wire's ``except``."""

    name: str
    mode: str
    port: int
    events: list[dict[str, Any]]

    @property
    def url(self) -> str: ...
    def call(self, op: str, timeout: float = DEFAULT_TIMEOUT, **fields: Any) -> Any: ...
    def mark(self) -> int: ...
    def wait_event(
        self, predicate: Predicate, timeout: float = 5.0, *, since: int = 0
    ) -> dict[str, Any]: ...
    def wait_connection(
        self, client: str, *, nsp: str = "/", timeout: float = 5.0
    ) -> dict[str, Any]: ...
    def close(self, timeout: float = CLOSE_TIMEOUT) -> int | None: ...

    def broadcast(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        flags: Mapping[str, bool] | None = None,
    ) -> None: ...
    def broadcast_with_ack(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        timeout_ms: int = 1000,
        flags: Mapping[str, bool] | None = None,
    ) -> dict[str, Any]: ...
    def fetch_sockets(
        self,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        timeout_ms: int | None = None,
    ) -> list[dict[str, Any]]: ...
    def sockets_join(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
    ) -> None: ...
    def sockets_leave(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
    ) -> None: ...
    def disconnect_sockets(
        self,
        *,
        close: bool = False,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
    ) -> None: ...
    def server_side_emit(self, event: str, *args: Any, nsp: str = "/") -> None: ...
    def server_side_emit_with_ack(
        self, event: str, *args: Any, nsp: str = "/", timeout_ms: int | None = None
    ) -> dict[str, Any]: ...
    def server_count(self, nsp: str = "/") -> int: ...
    def all_rooms(self, nsp: str = "/") -> list[Room]: ...
    def remote_socket(
        self,
        sid: str,
        action: str,
        *,
        nsp: str = "/",
        event: str | None = None,
        args: Sequence[Any] = (),
        room: Rooms | None = None,
        close: bool = False,
    ) -> dict[str, Any]: ...
    def local_rooms(self, nsp: str = "/") -> dict[str, list[Room]]: ...
    def sync(self) -> dict[str, Any]: ...
    def info(self) -> dict[str, Any]: ...
    def emitter(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        flags: Mapping[str, bool] | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None: ...
    def emitter_sockets_join(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None: ...
    def emitter_sockets_leave(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None: ...
    def emitter_disconnect_sockets(
        self,
        *,
        close: bool = False,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None: ...
    def emitter_server_side_emit(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        key: str | None = None,
        mode: str | None = None,
    ) -> None: ...


def peer_args(
    port: int,
    redis_url: str | None,
    mode: str,
    name: str,
    *,
    key: str | None = None,
    subscription_mode: str | None = None,
    requests_timeout: int | None = None,
    specific_response_channel: bool = False,
) -> list[str]:
    """The command-line arguments common to ``peer.mjs`` and ``_py_peer.py``."""
    if mode not in ("classic", "sharded", "none"):
        raise ValueError(f"mode must be classic, sharded or none, not {mode!r}")
    args = ["--port", str(port), "--mode", mode, "--name", name]
    if redis_url is not None:
        args += ["--redis", redis_url]
    if key is not None:
        args += ["--key", key]
    if subscription_mode is not None:
        args += ["--subscription-mode", subscription_mode]
    if requests_timeout is not None:
        args += ["--requests-timeout", str(requests_timeout)]
    if specific_response_channel:
        args.append("--specific-response-channel")
    return args


class _PeerProcess(JsonLineProcess):
    """The commands of a peer as methods (see :class:`Peer`)."""

    call_timeout = DEFAULT_TIMEOUT

    def __init__(
        self,
        command: Sequence[str],
        *,
        mode: str,
        name: str,
        label: str,
        cwd: str | os.PathLike[str] | None,
        ready_timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.mode = mode
        super().__init__(command, label=label, cwd=cwd, env=env)
        self.port: int = int(self.wait_ready(ready_timeout)["port"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _do(self, op: str, **fields: Any) -> Any:
        return self.call(op, timeout=self.call_timeout, **fields)

    def wait_connection(
        self, client: str, *, nsp: str = "/", timeout: float = 5.0
    ) -> dict[str, Any]:
        """The ``connection`` event of the client named ``client`` (its auth name)."""
        return self.wait_event({"event": "connection", "name": client, "nsp": nsp}, timeout)

    def broadcast(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        flags: Mapping[str, bool] | None = None,
    ) -> None:
        self._do(
            "broadcast",
            nsp=nsp,
            rooms=_rooms(rooms),
            **{"except": _rooms(except_)},
            event=event,
            args=list(args),
            flags=dict(flags or {}),
        )

    def broadcast_with_ack(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        timeout_ms: int = 1000,
        flags: Mapping[str, bool] | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "broadcast_with_ack",
            timeout=self.call_timeout + timeout_ms / 1000,
            nsp=nsp,
            rooms=_rooms(rooms),
            **{"except": _rooms(except_)},
            event=event,
            args=list(args),
            timeout_ms=timeout_ms,
            flags=dict(flags or {}),
        )
        return result

    def fetch_sockets(
        self,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        timeout_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        fields: dict[str, Any] = {"nsp": nsp, "rooms": _rooms(rooms), "except": _rooms(except_)}
        if timeout_ms is not None:
            fields["timeout_ms"] = timeout_ms
        result: list[dict[str, Any]] = self._do("fetch_sockets", **fields)
        return result

    def _target(
        self, op: str, nsp: str, rooms: Rooms | None, except_: Rooms | None, **fields: Any
    ) -> Any:
        return self._do(op, nsp=nsp, rooms=_rooms(rooms), **{"except": _rooms(except_)}, **fields)

    def sockets_join(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
    ) -> None:
        self._target("sockets_join", nsp, rooms, except_, room=room)

    def sockets_leave(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
    ) -> None:
        self._target("sockets_leave", nsp, rooms, except_, room=room)

    def disconnect_sockets(
        self,
        *,
        close: bool = False,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
    ) -> None:
        self._target("disconnect_sockets", nsp, rooms, except_, close=close)

    def server_side_emit(self, event: str, *args: Any, nsp: str = "/") -> None:
        self._do("server_side_emit", nsp=nsp, event=event, args=list(args))

    def server_side_emit_with_ack(
        self, event: str, *args: Any, nsp: str = "/", timeout_ms: int | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"nsp": nsp, "event": event, "args": list(args)}
        if timeout_ms is not None:
            fields["timeout_ms"] = timeout_ms
        result: dict[str, Any] = self._do("server_side_emit_with_ack", **fields)
        return result

    def server_count(self, nsp: str = "/") -> int:
        return int(self._do("server_count", nsp=nsp))

    def all_rooms(self, nsp: str = "/") -> list[Room]:
        result: list[Room] = self._do("all_rooms", nsp=nsp)
        return result

    def remote_socket(
        self,
        sid: str,
        action: str,
        *,
        nsp: str = "/",
        event: str | None = None,
        args: Sequence[Any] = (),
        room: Rooms | None = None,
        close: bool = False,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"nsp": nsp, "sid": sid, "action": action}
        if action == "emit":
            fields.update(event=event, args=list(args))
        elif action in ("join", "leave"):
            fields["room"] = room
        elif action == "disconnect":
            fields["close"] = close
        result: dict[str, Any] = self._do("remote_socket", **fields)
        return result

    def local_rooms(self, nsp: str = "/") -> dict[str, list[Room]]:
        result: dict[str, list[Room]] = self._do("local_rooms", nsp=nsp)
        return result

    def sync(self) -> dict[str, Any]:
        result: dict[str, Any] = self._do("sync")
        return result

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._do("info")
        return result

    def _emitter_fields(self, key: str | None, mode: str | None, **fields: Any) -> dict[str, Any]:
        if key is not None:
            fields["key"] = key
        if mode is not None:
            fields["mode"] = mode
        return fields

    def emitter(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        flags: Mapping[str, bool] | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None:
        self._target(
            "emitter",
            nsp,
            rooms,
            except_,
            **self._emitter_fields(
                key, mode, event=event, args=list(args), flags=dict(flags or {})
            ),
        )

    def emitter_sockets_join(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None:
        self._target(
            "emitter_sockets_join",
            nsp,
            rooms,
            except_,
            **self._emitter_fields(key, mode, room=room),
        )

    def emitter_sockets_leave(
        self,
        room: Rooms,
        *,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None:
        self._target(
            "emitter_sockets_leave",
            nsp,
            rooms,
            except_,
            **self._emitter_fields(key, mode, room=room),
        )

    def emitter_disconnect_sockets(
        self,
        *,
        close: bool = False,
        nsp: str = "/",
        rooms: Rooms | None = None,
        except_: Rooms | None = None,
        key: str | None = None,
        mode: str | None = None,
    ) -> None:
        self._target(
            "emitter_disconnect_sockets",
            nsp,
            rooms,
            except_,
            **self._emitter_fields(key, mode, close=close),
        )

    def emitter_server_side_emit(
        self,
        event: str,
        *args: Any,
        nsp: str = "/",
        key: str | None = None,
        mode: str | None = None,
    ) -> None:
        self._do(
            "emitter_server_side_emit",
            **self._emitter_fields(key, mode, nsp=nsp, event=event, args=list(args)),
        )


class NodePeer(_PeerProcess):
    """``node/peer.mjs``: a socket.io 4.8 server with ``@socket.io/redis-adapter`` 8.3
    (``mode`` ``classic``: ``createAdapter``; ``sharded``: ``createShardedAdapter``; ``none``:
    the in-memory adapter). ``port`` 0 picks a free port (then see :attr:`port`). Options:
    ``key``, ``subscription_mode``, ``requests_timeout``, ``specific_response_channel``,
    ``ready_timeout``."""

    def __init__(
        self,
        port: int,
        redis_url: str | None,
        mode: str,
        name: str,
        *,
        ready_timeout: float = READY_TIMEOUT,
        **opts: Any,
    ) -> None:
        node = _node_executable()
        command = [node, str(PEER_SCRIPT), *peer_args(port, redis_url, mode, name, **opts)]
        super().__init__(
            command,
            mode=mode,
            name=name,
            label=f"node peer {name}",
            cwd=NODE_DIR,
            ready_timeout=ready_timeout,
        )


class PythonPeer(_PeerProcess):
    """``_py_peer.py``: this project's server and cluster layer on the ``asyncio`` or ``trio``
    binding, same arguments and protocol as :class:`NodePeer`."""

    def __init__(
        self,
        binding: str,
        port: int,
        redis_url: str | None,
        mode: str,
        name: str,
        *,
        ready_timeout: float = READY_TIMEOUT,
        **opts: Any,
    ) -> None:
        if binding not in ("asyncio", "trio"):
            raise ValueError(f"binding must be asyncio or trio, not {binding!r}")
        if not PY_PEER_SCRIPT.is_file():
            pytest.fail(
                f"cluster harness: {PY_PEER_SCRIPT.relative_to(HERE.parent.parent)} does not exist "
                "(the Python peer of the mixed-cluster tests)",
                pytrace=False,
            )
        command = [
            sys.executable,
            str(PY_PEER_SCRIPT),
            "--binding",
            binding,
            *peer_args(port, redis_url, mode, name, **opts),
        ]
        self.binding = binding
        super().__init__(
            command,
            mode=mode,
            name=name,
            label=f"python peer {name} ({binding})",
            cwd=HERE.parent.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            ready_timeout=ready_timeout,
        )


# ---------------------------------------------------------------------------------------------
# clients


class NodeClients(JsonLineProcess):
    """``node/clients.mjs``: socket.io-client 4.8 clients (WebSocket only, no reconnection),
    each with its own connection, known by name."""

    call_timeout = DEFAULT_TIMEOUT

    def __init__(self, *, ready_timeout: float = READY_TIMEOUT) -> None:
        node = _node_executable()
        super().__init__([node, str(CLIENTS_SCRIPT)], label="node clients", cwd=NODE_DIR)
        self.wait_ready(ready_timeout)

    def connect(
        self,
        name: str,
        url: str,
        *,
        nsp: str = "/",
        auth: Mapping[str, Any] | None = None,
        rooms: Sequence[Room] | None = None,
        ack_delay_ms: int = 0,
        silent: bool = False,
    ) -> str:
        """Connects a client and returns its socket id. ``auth`` is ``{"name": name}`` plus
        ``auth``; ``rooms`` (joined by the peer at connection) goes into ``auth``."""
        full_auth = dict(auth or {})
        if rooms is not None:
            full_auth["rooms"] = list(rooms)
        result = self.call(
            "connect",
            timeout=self.call_timeout,
            name=name,
            url=url,
            nsp=nsp,
            auth=full_auth,
            ack_delay_ms=ack_delay_ms,
            silent=silent,
        )
        return str(result["sid"])

    def received(self, name: str) -> list[dict[str, Any]]:
        """What the client received so far: ``[{seq, event, args, with_ack}]``."""
        result: list[dict[str, Any]] = self.call("received", timeout=self.call_timeout, name=name)
        return result

    def received_all(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = self.call(
            "received_all", timeout=self.call_timeout
        )
        return result

    def clear(self, name: str | None = None) -> None:
        """Forgets what one client (or every client) received."""
        if name is None:
            self.call("clear", timeout=self.call_timeout)
        else:
            self.call("clear", timeout=self.call_timeout, name=name)

    def emit(
        self, name: str, event: str, *args: Any, ack: bool = False, timeout_ms: int = 2000
    ) -> list[Any] | None:
        """Emits from a client; with ``ack`` waits for the acknowledgement and returns its
        arguments."""
        result: list[Any] | None = self.call(
            "emit",
            timeout=self.call_timeout + timeout_ms / 1000,
            name=name,
            event=event,
            args=list(args),
            ack=ack,
            timeout_ms=timeout_ms,
        )
        return result

    def disconnect(self, name: str) -> None:
        self.call("disconnect", timeout=self.call_timeout, name=name)

    def status(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self.call("status", timeout=self.call_timeout)
        return result

    def wait_received(
        self,
        name: str,
        event: str | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,
        since: int = 0,
    ) -> list[dict[str, Any]]:
        """Waits until client ``name`` received ``count`` events (named ``event`` if given) and
        returns their ``received`` event lines ``{client, seq, name, args, with_ack}``."""
        wanted: dict[str, Any] = {"event": "received", "client": name}
        if event is not None:
            wanted["name"] = event
        return self.wait_events(wanted, count, timeout, since=since)

    def wait_disconnect(self, name: str, *, timeout: float = 5.0, since: int = 0) -> str:
        """Waits for the client's disconnection and returns the reason."""
        found = self.wait_event(
            {"event": "client_disconnect", "client": name}, timeout, since=since
        )
        return str(found["reason"])
