"""A Socket.IO server of a mixed test cluster, this project's: driven by JSON lines.

    python tests/cluster/_py_peer.py --binding asyncio|trio --port N --mode classic|sharded|none
        --name NAME [--redis URL] [--key socket.io]
        [--subscription-mode dynamic|static|dynamic-private] [--requests-timeout MS]
        [--specific-response-channel]

The twin of ``node/peer.mjs``: same arguments (plus ``--binding``), same server behaviour, same
commands, results and events (``HARNESS.md`` next to this file is the protocol). The asyncio
binding runs on uvicorn, the trio binding on hypercorn's trio worker; the peer's own code is
written once on anyio, which runs on either loop.

How the commands map to this project's API:

* ``broadcast`` & co: ``server.of(nsp).to(rooms).except_(except)`` plus the flags in the order
  of their keys, then ``await adapter.flush()``: the reply comes after the publish. Empty
  ``rooms`` means the whole namespace (Node's ``to([])``), so ``to()`` is only called with
  rooms (this project's ``to([])`` selects nobody).
* ``sync``, ``local_rooms``, the ``connection`` event and the acks of ``join``/``leave``: like
  the Node peer, they wait until Redis' ``CLIENT LIST`` shows the subscriptions the rooms need,
  on this process' connections (found by their addresses: the trio adapter's subscriber has no
  name; the URL's ``client_name`` names the others ``peer-<NAME>-<pid>-adapter``).
* the emitter commands use :class:`sansio_rooms.Emitter` on redis-py's blocking client, in a
  worker thread; ``mode: "sharded"`` is supported (Node's emitter has no such mode).
* ``server_side``'s ``with_ack``: an ``on_server_side`` handler gets the event's arguments
  only, it cannot tell whether the sender waits for an answer. The peer's server class reports
  it from the :class:`sansio_rooms.ServerSideEvent` itself (``reply is not None``), then hands
  the event to the driver as usual.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os
import re
import signal
import socket as socketlib
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc

NAMESPACES = ("/", "/chat")
COMMAND_GUARD = 20.0  # no command reply later than this (seconds)
SETTLE = 3.0  # longest wait for the Redis subscriptions to match the rooms
SHUTDOWN = 3.0  # quit / end of stdin / SIGTERM: exit 0 at the latest after this
HOST = "127.0.0.1"

# ---------------------------------------------------------------------------------------------
# output

_write_lock = threading.Lock()
NAME = "?"


def to_wire(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_wire(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def from_wire(value: Any) -> Any:
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bin"), str):
            return base64.b64decode(value["$bin"])
        return {key: from_wire(item) for key, item in value.items()}
    return value


def out(obj: dict[str, Any]) -> None:
    line = json.dumps(to_wire(obj), ensure_ascii=False) + "\n"
    with _write_lock:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (OSError, ValueError):
            pass  # the driver is gone: the end of stdin follows


def event(kind: str, **fields: Any) -> None:
    out({"event": kind, **fields})


def log(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"[py peer {NAME}] {message}\n")
        sys.stderr.flush()


def error_event(message: str) -> None:
    event("error", message=str(message))


class _ErrorEvents(logging.Handler):
    """Logged errors (a failed handler, a lost Redis connection) become ``error`` events, and
    so do the cluster's dropped messages (a wire format not understood)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # pragma: no cover - a bad format string
            text = str(record.msg)
        dropped = record.name.startswith("sansio_rooms") and "dropped a message" in text
        if record.levelno < logging.ERROR and not dropped:
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += ": " + "".join(traceback.format_exception_only(record.exc_info[1])).strip()
        error_event(f"{record.name}: {text}")


def _setup_logging() -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.INFO)
    stderr.setFormatter(logging.Formatter(f"[py peer {NAME}] %(levelname)s %(name)s %(message)s"))
    root.addHandler(stderr)
    root.addHandler(_ErrorEvents())
    for noisy in ("uvicorn.access", "hypercorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# ---------------------------------------------------------------------------------------------
# arguments


class Options:
    binding = ""
    port = -1
    redis: str | None = None
    mode = ""
    name = ""
    key = "socket.io"
    subscription_mode = "dynamic"
    requests_timeout: float | None = None  # milliseconds
    specific = False


def parse_args(argv: list[str]) -> Options:
    opts = Options()
    i = 0

    def need() -> str:
        if i + 1 >= len(argv):
            raise ValueError(f"{argv[i]} needs a value")
        return argv[i + 1]

    while i < len(argv):
        arg = argv[i]
        if arg == "--specific-response-channel":
            opts.specific = True
            i += 1
            continue
        if arg == "--binding":
            opts.binding = need()
        elif arg == "--port":
            try:
                opts.port = int(need())
            except ValueError:
                raise ValueError("--port N is required (0: any free port)") from None
        elif arg == "--redis":
            opts.redis = need()
        elif arg == "--mode":
            opts.mode = need()
        elif arg == "--name":
            opts.name = need()
        elif arg == "--key":
            opts.key = need()
        elif arg == "--subscription-mode":
            opts.subscription_mode = need()
        elif arg == "--requests-timeout":
            try:
                opts.requests_timeout = float(need())
            except ValueError:
                raise ValueError("bad --requests-timeout") from None
        else:
            raise ValueError(f"unknown argument {arg}")
        i += 2
    if opts.binding not in ("asyncio", "trio"):
        raise ValueError("--binding asyncio|trio is required")
    if opts.port < 0:
        raise ValueError("--port N is required (0: any free port)")
    if opts.mode not in ("classic", "sharded", "none"):
        raise ValueError("--mode classic|sharded|none is required")
    if opts.mode != "none" and not opts.redis:
        raise ValueError(f"--redis URL is required in mode {opts.mode}")
    if opts.subscription_mode not in ("dynamic", "static", "dynamic-private"):
        raise ValueError(f"bad --subscription-mode {opts.subscription_mode}")
    if opts.requests_timeout is not None and not opts.requests_timeout > 0:
        raise ValueError("bad --requests-timeout")
    if not opts.name:
        opts.name = f"python-{os.getpid()}"
    return opts


# ---------------------------------------------------------------------------------------------
# values


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _room_key(room: Any) -> tuple[int, Any]:
    if isinstance(room, int | float) and not isinstance(room, bool):
        return (0, room)
    return (1, str(room))  # Python compares strings by code point, as the Node peer does


def sorted_rooms(rooms: Any) -> list[Any]:
    return sorted(rooms, key=_room_key)


def message_of(error: BaseException) -> str:
    return str(error) or type(error).__name__


def conn_name(role: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"peer-{NAME}-{os.getpid()}-{role}")


def with_client_name(url: str, role: str) -> str:
    """The URL with ``client_name``: redis-py and coredis name their connections after it."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}client_name={conn_name(role)}"


def own_addresses(redis_port: int) -> set[str] | None:
    """``ip:port`` of this process' TCP connections to ``redis_port`` (Linux ``/proc``), as
    Redis' ``CLIENT LIST`` shows them in ``addr``; ``None`` where ``/proc`` has no answer."""
    try:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/self/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        found: set[str] = set()
        for table, family in (("tcp", socketlib.AF_INET), ("tcp6", socketlib.AF_INET6)):
            with contextlib.suppress(FileNotFoundError), open(f"/proc/self/net/{table}") as f:
                for row in f.read().splitlines()[1:]:
                    fields = row.split()
                    local, remote, inode = fields[1], fields[2], fields[9]
                    if inode not in inodes or int(remote.rsplit(":", 1)[1], 16) != redis_port:
                        continue
                    ip_hex, port_hex = local.rsplit(":", 1)
                    raw = bytes.fromhex(ip_hex)
                    # /proc writes the address as 32-bit words in host (little-endian) order
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                    ip = socketlib.inet_ntop(family, raw)
                    if ip.startswith("::ffff:"):
                        ip = ip[7:]
                    found.add(
                        f"{ip}:{int(port_hex, 16)}"
                        if family == socketlib.AF_INET
                        else f"[{ip}]:{int(port_hex, 16)}"
                    )
        return found
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# a tiny RESP client on anyio (either loop): CLIENT LIST for the subscriptions


class Resp:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or HOST
        self.port = parts.port or 6379
        self._stream: Any = None
        self._buf = b""
        self._lock = anyio.Lock()

    async def command(self, *args: str | bytes, timeout: float = 1.0) -> Any:
        async with self._lock:
            try:
                with anyio.fail_after(timeout):
                    if self._stream is None:
                        self._stream = await anyio.connect_tcp(self.host, self.port)
                        self._buf = b""
                    encoded = [b"*%d\r\n" % len(args)]
                    for arg in args:
                        data = arg.encode() if isinstance(arg, str) else arg
                        encoded.append(b"$%d\r\n%s\r\n" % (len(data), data))
                    await self._stream.send(b"".join(encoded))
                    return await self._read()
            except BaseException:
                await self.close()
                raise

    async def _fill(self) -> None:
        chunk = await self._stream.receive(65536)
        self._buf += chunk

    async def _line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            await self._fill()
        line, self._buf = self._buf[:end], self._buf[end + 2 :]
        return line

    async def _read(self) -> Any:
        line = await self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self._buf) < n + 2:
                await self._fill()
            data, self._buf = self._buf[:n], self._buf[n + 2 :]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [await self._read() for _ in range(n)]
        raise RuntimeError(f"unexpected RESP reply {line!r}")

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.aclose()


# ---------------------------------------------------------------------------------------------
# the bindings


def listening_socket(port: int) -> socketlib.socket:
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
    sock = socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM, socketlib.IPPROTO_TCP)
    try:
        sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def _report_server_side(server: Any, output: Any) -> None:
    """The dispatch entry of :class:`sansio_rooms.ServerSideEvent`: report, then run the
    handler as the driver does."""
    from sansio_rooms import ServerDriver

    if output.event == "ping-server" and server.server_side_handlers.get(output.nsp, output.event):
        event(
            "server_side",
            nsp=output.nsp,
            name=output.event,
            args=list(output.args),
            with_ack=output.reply is not None,
        )
    ServerDriver._on_server_side_event(server, output)


def _peer_server_class(base: Any) -> type:
    from sansio_rooms import ServerSideEvent

    return type(
        f"Peer{base.__name__}",
        (base,),
        {"_dispatch": {**base._dispatch, ServerSideEvent: _report_server_side}},
    )


class AsyncioBinding:
    name = "asyncio"

    def server_class(self) -> type:
        from sansio_rooms_asyncio import AsyncServer

        return _peer_server_class(AsyncServer)

    def adapter(self, url: str, **options: Any) -> Any:
        from sansio_rooms_asyncio import RedisAdapter

        return RedisAdapter(url, **options)

    async def serve(
        self,
        server: Any,
        sock: socketlib.socket,
        stop: anyio.Event,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        import uvicorn

        from sansio_rooms_asyncio import ASGIApp

        app = ASGIApp(server, shutdown_signals=())
        config = uvicorn.Config(
            app,
            ws="websockets-sansio",
            lifespan="on",
            log_level="warning",
            log_config=None,
            timeout_graceful_shutdown=1,
        )
        ready = anyio.Event()
        failure: list[BaseException] = []

        class Uvicorn(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Any:  # the peer handles SIGTERM itself
                yield

            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                if self.started:
                    ready.set()

            async def main_loop(self) -> None:
                await self.on_tick(0)
                await stop.wait()

        uv = Uvicorn(config)

        async def run() -> None:
            try:
                await uv.serve(sockets=[sock])
            except BaseException as error:  # SystemExit on a failed lifespan startup
                failure.append(error)
                if not ready.is_set():
                    ready.set()
                if not isinstance(error, SystemExit | Exception):
                    raise

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await ready.wait()
            if failure or not uv.started:
                raise RuntimeError(f"uvicorn did not start: {failure[0] if failure else '?'}")
            task_status.started()
            await stop.wait()
            with anyio.move_on_after(1.5):
                await server.shutdown(timeout=1.0)


class TrioBinding:
    name = "trio"

    def server_class(self) -> type:
        from sansio_rooms_trio import AsyncServer

        return _peer_server_class(AsyncServer)

    def adapter(self, url: str, **options: Any) -> Any:
        from sansio_rooms_trio import RedisAdapter

        return RedisAdapter(url, **options)

    async def serve(
        self,
        server: Any,
        sock: socketlib.socket,
        stop: anyio.Event,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        from hypercorn.config import Config
        from hypercorn.trio import serve as hypercorn_serve

        from sansio_rooms_trio import ASGIApp

        config = Config()
        config.loglevel = "WARNING"
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        config.graceful_timeout = 0.5
        config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn closes what it is given
        app: Any = ASGIApp(server, shutdown_signals=())

        async def shutdown_trigger() -> None:
            await stop.wait()
            with anyio.move_on_after(1.5):
                await server.shutdown(timeout=1.0)

        async with anyio.create_task_group() as tg:
            await tg.start(
                functools.partial(hypercorn_serve, app, config, shutdown_trigger=shutdown_trigger)
            )
            task_status.started()


# ---------------------------------------------------------------------------------------------
# the peer


class Peer:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.binding = AsyncioBinding() if opts.binding == "asyncio" else TrioBinding()
        self.server: Any = None
        self.adapter: Any = None
        self.port = 0
        self.started = anyio.Event()
        self.stop = anyio.Event()  # stops the HTTP server
        self.stopped = anyio.Event()  # the HTTP server has stopped
        self.quit = anyio.Event()  # quit, end of stdin, SIGTERM
        self.quit_ids: list[Any] = []
        self.resp: Resp | None = None
        self.emitter_client: Any = None
        self._emitter_lock = threading.Lock()

    # -- start

    async def start(self) -> socketlib.socket:
        opts = self.opts
        if opts.mode != "none":
            assert opts.redis is not None
            options: dict[str, Any] = {"key": opts.key, "sharded": opts.mode == "sharded"}
            if opts.mode == "sharded":
                options["subscription_mode"] = opts.subscription_mode
            else:
                options["publish_on_specific_response_channel"] = opts.specific
                if opts.requests_timeout is not None:
                    options["requests_timeout"] = opts.requests_timeout / 1000
            self.adapter = self.binding.adapter(with_client_name(opts.redis, "adapter"), **options)
            self.resp = Resp(opts.redis)
        cls = self.binding.server_class()
        self.server = cls(adapter=self.adapter) if self.adapter is not None else cls()
        for nsp in NAMESPACES:
            self.install(nsp)
        return listening_socket(opts.port)

    # -- server behaviour

    def install(self, nsp: str) -> None:
        server = self.server

        async def connect(socket: Any, auth: Any) -> None:
            auth = auth if isinstance(auth, dict) else {}
            socket.data["name"] = auth.get("name")
            if isinstance(auth.get("rooms"), list):
                socket.join(auth["rooms"])
            await self.soft_flush()
            await self.settle_if_dynamic()
            event("connection", nsp=nsp, sid=socket.sid, name=socket.data.get("name"))

        async def join(socket: Any, room: Any, *rest: Any) -> bool:
            socket.join(room)
            await self.soft_flush()
            await self.settle_if_dynamic()
            return True

        async def leave(socket: Any, room: Any, *rest: Any) -> bool:
            socket.leave(room)
            await self.soft_flush()
            await self.settle_if_dynamic()
            return True

        async def broadcast(socket: Any, spec: Any = None, *rest: Any) -> bool:
            try:
                spec = spec if isinstance(spec, dict) else {}
                rooms = as_list(spec.get("rooms"))
                op = socket.to(rooms) if rooms else socket.broadcast
                excluded = as_list(spec.get("except"))
                if excluded:
                    op = op.except_(excluded)
                await op.emit(spec.get("event"), *as_list(spec.get("args")))
                await self.flush()
                return True
            except Exception as error:
                error_event(f"client broadcast: {message_of(error)}")
                return False

        async def disconnect(socket: Any, reason: str) -> None:
            event(
                "disconnect",
                nsp=nsp,
                sid=socket.sid,
                name=socket.data.get("name"),
                reason=reason,
            )

        def ping_server(*args: Any) -> dict[str, str]:
            return {"from": NAME}  # reported by _report_server_side, with with_ack

        server.on("connect", nsp)(connect)
        server.on("join", nsp)(join)
        server.on("leave", nsp)(leave)
        server.on("broadcast", nsp)(broadcast)
        server.on("disconnect", nsp)(disconnect)
        server.on_server_side("ping-server", nsp)(ping_server)

    # -- Redis: publishing and subscriptions

    async def flush(self) -> None:
        """What was published or (un)subscribed before has been written to Redis."""
        if self.adapter is not None:
            with anyio.fail_after(2):
                await self.adapter.flush()

    async def soft_flush(self) -> None:
        """:meth:`flush` for the server's handlers: a failure (Redis is down) is reported as
        an ``error`` event, and the handler goes on, as the Node peer's do."""
        try:
            await self.flush()
        except Exception as error:
            error_event(f"flush: {message_of(error) if str(error) else 'no answer within 2 s'}")

    def rooms_may_subscribe(self) -> bool:
        return self.opts.mode == "sharded" and self.opts.subscription_mode != "static"

    async def settle_if_dynamic(self) -> None:
        if self.rooms_may_subscribe():
            await self.settle()

    def expected_subscriptions(self) -> dict[str, int]:
        want = {"sub": 0, "psub": 0, "ssub": 0}
        namespaces = self.server.machine.namespaces()
        if self.opts.mode == "classic":
            want["psub"] = len(namespaces)
            want["sub"] = 3 * len(namespaces)
        elif self.opts.mode == "sharded":
            from sansio_rooms._cluster_wire import room_channel_name, room_has_channel

            channels: set[str] = set()
            for nsp in namespaces:
                base = f"{self.opts.key}#{nsp}#"
                channels.add(base)
                channels.add(f"{base}{self.server.cluster.uid}#")
                if self.opts.subscription_mode == "static":
                    continue
                namespace = self.server.machine.engine.namespace(nsp)
                for room in namespace.rooms():
                    # Node's rule (public rooms; every room when dynamic-private), plus
                    # the socket ids a publisher does not take for ids: their broadcasts
                    # come on the room's channel (Node's 20-character rule; ours have 22)
                    private = namespace.has_socket(room)
                    mode = self.opts.subscription_mode
                    if not private or room_has_channel(mode, room):  # type: ignore[arg-type]
                        channels.add(f"{base}{room_channel_name(room)}#")
            want["ssub"] = len(channels)
        return want

    async def current_subscriptions(self) -> dict[str, int] | None:
        """The subscriptions Redis reports for this process' connections (``CLIENT LIST``):
        the adapter's subscriber is the only one that subscribes. The connections are told
        by their address (this process' sockets to Redis, from ``/proc``), which needs no
        help from the adapter; without ``/proc``, by the name ``client_name`` gives them."""
        assert self.resp is not None
        listing = await self.resp.command("CLIENT", "LIST")
        mine = own_addresses(self.resp.port)
        name = conn_name("adapter")
        found: dict[str, int] | None = None
        for line in bytes(listing).decode(errors="replace").split("\n"):
            addr = re.search(r"\baddr=(\S+)", line)
            if mine is not None:
                if addr is None or addr.group(1) not in mine:
                    continue
            elif f" name={name} " not in line:
                continue
            found = found or {"sub": 0, "psub": 0, "ssub": 0}
            for field in found:
                match = re.search(rf"\b{field}=(\d+)", line)
                found[field] += int(match.group(1)) if match else 0
        return found

    async def settle(self) -> dict[str, Any]:
        """Waits (at most SETTLE s) until Redis reports the subscriptions the rooms need."""
        if self.opts.mode == "none":
            return {"settled": True}
        start = time.monotonic()
        got: Any = None
        want: dict[str, int] = {}
        with contextlib.suppress(Exception):
            await self.flush()
        while True:
            want = self.expected_subscriptions()
            try:
                got = await self.current_subscriptions()
            except Exception as error:
                got = {"error": message_of(error)}
            if got == want:
                return {"settled": True, "subscriptions": got}
            if time.monotonic() - start > SETTLE:
                error_event(
                    f"subscriptions not settled after {int(SETTLE * 1000)} ms: want "
                    f"{json.dumps(want)}, Redis reports {json.dumps(got)}"
                )
                return {"settled": False, "subscriptions": got, "expected": want}
            await anyio.sleep(0.005)

    # -- commands

    def nsp_of(self, c: dict[str, Any]) -> Any:
        return self.server.of(c.get("nsp") or "/")

    def target(self, c: dict[str, Any]) -> Any:
        op = self.nsp_of(c)
        rooms = as_list(c.get("rooms"))
        if rooms:  # Node's to([]) is the whole namespace; ours would be nobody
            op = op.to(rooms)
        excluded = as_list(c.get("except"))
        if excluded:
            op = op.except_(excluded)
        return op

    @staticmethod
    def apply_flags(op: Any, flags: Any, *, emitter: bool = False) -> Any:
        for flag, value in (flags or {}).items():
            if flag not in ("volatile", "compress", "local"):
                raise ValueError(f"unknown flag {flag}")
            if flag == "local" and emitter:
                raise ValueError("flag local is not supported here")
            if flag == "compress":
                op = op.compress(bool(value))
            elif value:
                op = getattr(op, flag)
        return op

    async def cmd_broadcast(self, c: dict[str, Any]) -> None:
        op = self.apply_flags(self.target(c), c.get("flags"))
        await op.emit(c.get("event"), *as_list(c.get("args")))
        await self.flush()

    async def cmd_broadcast_with_ack(self, c: dict[str, Any]) -> dict[str, Any]:
        from sansio_rooms import AckTimeoutError

        timeout_ms = c.get("timeout_ms")
        timeout_ms = 2000 if timeout_ms is None else timeout_ms
        try:
            op = self.apply_flags(self.target(c), c.get("flags")).timeout(timeout_ms / 1000)
            responses = await op.emit_with_ack(c.get("event"), *as_list(c.get("args")))
        except AckTimeoutError as error:
            return {"responses": list(error.responses), "error": "operation has timed out"}
        except Exception as error:
            responses = getattr(error, "responses", None)
            return {
                "responses": None if responses is None else list(responses),
                "error": message_of(error),
            }
        return {"responses": list(responses), "error": None}

    @staticmethod
    def describe(sockets: list[Any]) -> list[dict[str, Any]]:
        described = []
        for s in sockets:
            handshake = s.handshake
            if isinstance(handshake, dict):
                auth = handshake.get("auth")
            else:
                auth = getattr(handshake, "auth", None)
            described.append(
                {
                    "id": getattr(s, "id", None) or s.sid,
                    "rooms": sorted_rooms(s.rooms),
                    "data": s.data,
                    "handshake_auth": auth,
                }
            )

        def key(item: dict[str, Any]) -> tuple[str, str]:
            data = item["data"] if isinstance(item["data"], dict) else {}
            name = data.get("name")
            return ("" if name is None else str(name), str(item["id"]))

        return sorted(described, key=key)

    async def cmd_fetch_sockets(self, c: dict[str, Any]) -> list[dict[str, Any]]:
        op = self.target(c)
        if c.get("timeout_ms") is not None:
            op = op.timeout(c["timeout_ms"] / 1000)
        return self.describe(await op.fetch_sockets())

    async def cmd_sockets_join(self, c: dict[str, Any]) -> None:
        await self.target(c).sockets_join(c.get("room"))
        await self.flush()

    async def cmd_sockets_leave(self, c: dict[str, Any]) -> None:
        await self.target(c).sockets_leave(c.get("room"))
        await self.flush()

    async def cmd_disconnect_sockets(self, c: dict[str, Any]) -> None:
        await self.target(c).disconnect_sockets(bool(c.get("close")))
        await self.flush()

    async def cmd_server_side_emit(self, c: dict[str, Any]) -> None:
        await self.nsp_of(c).server_side_emit(c.get("event"), *as_list(c.get("args")))
        await self.flush()

    async def cmd_server_side_emit_with_ack(self, c: dict[str, Any]) -> dict[str, Any]:
        if self.opts.mode == "none":
            # as the Node peer: the in-memory adapter has no other server to ask
            raise RuntimeError(
                "serverSideEmit() is not supported by the in-memory adapter (mode none)"
            )
        op = self.nsp_of(c)
        if c.get("timeout_ms") is not None:
            op = op.timeout(c["timeout_ms"] / 1000)
        try:
            responses = await op.server_side_emit_with_ack(c.get("event"), *as_list(c.get("args")))
        except Exception as error:
            got = getattr(error, "responses", None)
            return {"responses": None if got is None else list(got), "error": message_of(error)}
        return {"responses": list(responses), "error": None}

    async def cmd_server_count(self, c: dict[str, Any]) -> int:
        with anyio.move_on_after(5) as scope:
            count: int = await self.server.server_count(self.nsp_of(c).selection.nsp)
            return count
        assert scope.cancelled_caught
        raise RuntimeError("serverCount(): no answer within 5000 ms")

    async def cmd_all_rooms(self, c: dict[str, Any]) -> list[Any]:
        if self.opts.mode != "classic":
            raise RuntimeError(f"allRooms() is not supported by the {self.opts.mode} adapter")
        return sorted_rooms(await self.nsp_of(c).all_rooms())

    async def cmd_remote_socket(self, c: dict[str, Any]) -> dict[str, Any]:
        from sansio_rooms import Socket

        nsp = c.get("nsp") or "/"
        sid = c.get("sid")
        sockets = await self.server.of(nsp).in_(sid).fetch_sockets()
        found = [s for s in sockets if (getattr(s, "id", None) or s.sid) == sid]
        if not found:
            raise RuntimeError(f"no socket {sid} in {nsp}")
        s = found[0]
        action = c.get("action")
        result: Any
        if action == "emit":
            result = s.emit(c.get("event"), *as_list(c.get("args")))
        elif action == "join":
            result = s.join(c.get("room"))
        elif action == "leave":
            result = s.leave(c.get("room"))
        elif action == "disconnect":
            result = s.disconnect(bool(c.get("close")))
        else:
            raise RuntimeError(f"unknown remote_socket action {action}")
        if isinstance(result, Awaitable):
            await result
        await self.flush()
        return {"local": isinstance(s, Socket)}

    async def cmd_local_rooms(self, c: dict[str, Any]) -> dict[str, list[Any]]:
        await self.settle_if_dynamic()
        nsp = self.nsp_of(c).selection.nsp
        namespace = self.server.machine.engine.namespace(nsp)
        return {sid: sorted_rooms(namespace.rooms_of(sid)) for sid in namespace.sockets()}

    async def cmd_sync(self, c: dict[str, Any]) -> dict[str, Any]:
        return await self.settle()

    async def cmd_info(self, c: dict[str, Any]) -> dict[str, Any]:
        cluster = self.server.cluster
        uids = {
            nsp: (cluster.uid if cluster is not None else None)
            for nsp in self.server.machine.namespaces()
        }
        return {
            "name": NAME,
            "mode": self.opts.mode,
            "port": self.port,
            "key": self.opts.key,
            "subscription_mode": self.opts.subscription_mode
            if self.opts.mode == "sharded"
            else None,
            "uids": uids,
            "pid": os.getpid(),
        }

    # -- the emitter (blocking redis-py client, in a worker thread)

    def _emitter(self, c: dict[str, Any]) -> Any:
        import redis

        from sansio_rooms import Emitter

        mode = c.get("mode") or "classic"
        if mode not in ("classic", "sharded"):
            raise ValueError(f"this project's emitter has no {mode} mode (classic or sharded)")
        if not self.opts.redis:
            raise RuntimeError("no emitter: the peer was started without --redis")
        with self._emitter_lock:
            if self.emitter_client is None:
                self.emitter_client = redis.Redis.from_url(
                    with_client_name(self.opts.redis, "emitter"),
                    socket_timeout=2,
                    socket_connect_timeout=2,
                )
        emitter = Emitter(
            self.emitter_client,
            key=c.get("key") or self.opts.key,
            sharded=mode == "sharded",
            subscription_mode=self.opts.subscription_mode,  # type: ignore[arg-type]
        )
        return emitter.of(c.get("nsp") or "/")

    def _emitter_target(self, c: dict[str, Any]) -> Any:
        op = self._emitter(c)
        rooms = as_list(c.get("rooms"))
        if rooms:
            op = op.to(rooms)
        excluded = as_list(c.get("except"))
        if excluded:
            op = op.except_(excluded)
        return op

    async def _in_thread(self, fn: Callable[[], Any]) -> None:
        # redis-py's blocking calls publish and wait for Redis' reply: published on return
        await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)

    async def cmd_emitter(self, c: dict[str, Any]) -> None:
        def run() -> None:
            op = self.apply_flags(self._emitter_target(c), c.get("flags"), emitter=True)
            op.emit(c.get("event"), *as_list(c.get("args")))

        await self._in_thread(run)

    async def cmd_emitter_sockets_join(self, c: dict[str, Any]) -> None:
        await self._in_thread(lambda: self._emitter_target(c).sockets_join(c.get("room")))

    async def cmd_emitter_sockets_leave(self, c: dict[str, Any]) -> None:
        await self._in_thread(lambda: self._emitter_target(c).sockets_leave(c.get("room")))

    async def cmd_emitter_disconnect_sockets(self, c: dict[str, Any]) -> None:
        await self._in_thread(
            lambda: self._emitter_target(c).disconnect_sockets(bool(c.get("close")))
        )

    async def cmd_emitter_server_side_emit(self, c: dict[str, Any]) -> None:
        await self._in_thread(
            lambda: self._emitter(c).server_side_emit(c.get("event"), *as_list(c.get("args")))
        )

    # -- the command loop

    async def handle(self, line: str) -> None:
        try:
            cmd = from_wire(json.loads(line))
        except ValueError as error:
            error_event(f"unreadable command line {json.dumps(line)}: {error}")
            return
        if not isinstance(cmd, dict) or "id" not in cmd:
            error_event(f"command without an id: {line}")
            return
        ident = cmd["id"]
        op = cmd.get("op")
        if op == "quit":
            self.quit_ids.append(ident)
            self.quit.set()
            return
        fn = getattr(self, f"cmd_{op}", None) if isinstance(op, str) else None
        if fn is None:
            shown = "undefined" if op is None else json.dumps(op)
            out({"id": ident, "error": f"unknown op {shown}"})
            return
        try:
            await self.started.wait()  # commands sent before "ready" wait for it
            with anyio.move_on_after(COMMAND_GUARD) as scope:
                result = await fn(cmd)
            if scope.cancelled_caught:
                raise RuntimeError(f"op {op}: no answer within {int(COMMAND_GUARD * 1000)} ms")
        except Exception as error:
            out({"id": ident, "error": message_of(error)})
            return
        out({"id": ident, "result": result})

    async def read_stdin(self, tg: anyio.abc.TaskGroup) -> None:
        stdin = anyio.wrap_file(sys.stdin.buffer)
        while True:
            raw = await stdin.readline()
            if not raw:
                break
            line = raw.decode("utf-8", errors="replace").strip()
            if line:
                tg.start_soon(self.handle, line)
        self.quit.set()  # the driver is gone: never outlive it

    async def on_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                self.quit.set()
                return

    # -- main

    async def main(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.read_stdin, tg)
            tg.start_soon(self.on_signals)
            tg.start_soon(self.run, tg)
            await self.quit.wait()  # also before "ready": the exit comes within SHUTDOWN
            await self.shutdown()

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        try:
            sock = await self.start()
            self.port = sock.getsockname()[1]
            with anyio.fail_after(10):
                await tg.start(self.serve, sock)
            ready = await self.settle()
            if not ready.get("settled"):
                raise RuntimeError("the adapters' subscriptions did not reach Redis")
        except Exception as error:
            text = "".join(traceback.format_exception(error))
            error_event(f"start failed: {text}")
            log(f"start failed: {text}")
            os._exit(1)
        self.started.set()
        event("ready", port=self.port)

    async def serve(
        self, sock: socketlib.socket, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        try:
            await self.binding.serve(self.server, sock, self.stop, task_status=task_status)
        finally:
            self.stopped.set()

    async def shutdown(self) -> None:
        def too_long() -> None:
            log("shutdown took too long")
            os._exit(0)

        watchdog = threading.Timer(SHUTDOWN, too_long)
        watchdog.daemon = True
        watchdog.start()
        self.stop.set()
        if self.started.is_set():
            with anyio.move_on_after(SHUTDOWN - 0.5):
                # the clients are told, the HTTP server stops, the server's shutdown closes
                # the adapter: see serve()
                await self.stopped.wait()
        if self.resp is not None:
            await self.resp.close()
        if self.emitter_client is not None:
            with contextlib.suppress(Exception):
                self.emitter_client.close()
        for ident in self.quit_ids:
            out({"id": ident, "result": None})
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(0)


def main() -> None:
    global NAME
    try:
        opts = parse_args(sys.argv[1:])
    except ValueError as error:
        error_event(f"bad arguments: {error}")
        sys.stderr.write(f"_py_peer.py: {error}\n")
        sys.exit(2)
    NAME = opts.name
    _setup_logging()
    peer = Peer(opts)
    try:
        anyio.run(peer.main, backend=opts.binding)
    except BaseException as error:  # a bug of the peer: say so, never hang
        error_event(f"peer crashed: {''.join(traceback.format_exception(error))}")
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":
    main()
