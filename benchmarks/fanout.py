"""End-to-end fan-out benchmark: sansio-rooms on uvicorn vs python-socketio vs Node socket.io.

The workload of the shared bench README, section 2, over real WebSockets on loopback:
N = 1,000 clients connect with the websocket transport (Engine.IO v4 / Socket.IO v5) to "/",
each emits "join" with an ack and the server puts it in room "bench"; then client 0 emits 100
"say" events and, for each, the server does ``socket.to("bench").emit("msg", m)``: 99,900
deliveries. Figure: deliveries per second from the first "say" to the last delivery received.
Memory: the server's RSS growth over 2,000 idle clients joined to one room, per client.

Each server runs in its own process (one event loop; the Python ones on uvicorn with the same
settings) on a free 127.0.0.1 port; the load generator is one Node program for all of them
(benchmarks/node/loadgen.js: raw ``ws`` clients speaking the protocol by hand). Every server
is measured in the same run, so the ratios compare like with like on a noisy machine. The
load generator and the server share the machine's cores. This prints figures; it never fails
on a slow machine (it exits non-zero only if a server misbehaved or could not be run).

Usage: python benchmarks/fanout.py [--clients 1000] [--says 100] [--idle-clients 2000]
                                   [--servers a,b] [--rounds 1] [--ws websockets-sansio] [--json]
Needs ``npm ci`` in benchmarks/node (``make bench`` does it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVERS_DIR = HERE / "fanout_servers"
NODE_DIR = HERE / "node"
LOADGEN = NODE_DIR / "loadgen.js"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # seconds for a server to listen
STOP_TIMEOUT = 10.0  # seconds for a server to exit after SIGINT
OURS_PREFIX = "sansio_rooms_"


@dataclass(frozen=True)
class ServerKind:
    """How to run one server: the command (given the port and the options), and what it
    needs (None if it can run, else why not)."""

    command: Callable[[int, argparse.Namespace], list[str]]
    missing: Callable[[], str | None]


def _python_server(script: str) -> ServerKind:
    def command(port: int, options: argparse.Namespace) -> list[str]:
        return [sys.executable, str(SERVERS_DIR / script), "--port", str(port), "--ws", options.ws]

    return ServerKind(command, lambda: None)


def _node_server(script: str, package: str) -> ServerKind:
    def command(port: int, options: argparse.Namespace) -> list[str]:
        return [_node() or "node", str(SERVERS_DIR / script), "--port", str(port)]

    def missing() -> str | None:
        if _node() is None:
            return "node not found"
        if not (NODE_DIR / "node_modules" / package).is_dir():
            return f"{package} not installed (cd benchmarks/node && npm ci)"
        return None

    return ServerKind(command, missing)


# One entry per server; names starting with OURS_PREFIX are ours, the others are peers.
SERVERS: dict[str, ServerKind] = {
    "sansio_rooms_asyncio": _python_server("sansio_rooms_asyncio_server.py"),
    "sansio_rooms_trio": _python_server("sansio_rooms_trio_server.py"),
    "python_socketio": _python_server("python_socketio_server.py"),
    "node_socketio": _node_server("node_socketio_server.js", "socket.io"),
}


def _node() -> str | None:
    return shutil.which("node")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


@contextlib.contextmanager
def _running(name: str, options: argparse.Namespace) -> Iterator[tuple[int, int]]:
    """Start server ``name`` on a free port; yield (pid, port); always stop it."""
    port = _free_port()
    # Output to a file, never a pipe: a full pipe would block the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            SERVERS[name].command(port, options),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=HERE,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _listening(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}): {_tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not listen within {START_TIMEOUT:.0f}s")
                time.sleep(0.05)
            yield proc.pid, port
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if options.verbose and (output := _tail(log)):
                print(f"# {name} output: {output}", file=sys.stderr)


def _tail(log: Any, size: int = 2000) -> str:
    log.seek(0)
    return " | ".join(log.read()[-size:].splitlines())


def _loadgen(pid: int, port: int, clients: int, says: int, timeout: float) -> dict[str, Any]:
    """Run the load generator once; its JSON report (errors included, never raises on them)."""
    args = [
        _node() or "node",
        str(LOADGEN),
        "--port",
        str(port),
        "--pid",
        str(pid),
        "--clients",
        str(clients),
        "--says",
        str(says),
        "--timeout",
        str(timeout),
    ]
    try:
        done = subprocess.run(
            args,
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=3 * timeout + 30,  # the load generator bounds each of its phases itself
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"errors": ["load generator timed out"], "error_count": 1}
    lines = done.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        message = f"load generator failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        return {"errors": [message], "error_count": 1}
    return report


def measure(name: str, options: argparse.Namespace) -> dict[str, Any]:
    """One round on one server: the fan-out on a fresh server process, then (unless
    --idle-clients is 0) the idle-memory measure on another fresh one."""
    result: dict[str, Any] = {"server": name, "errors": []}
    try:
        with _running(name, options) as (pid, port):
            fanout = _loadgen(pid, port, options.clients, options.says, options.timeout)
        result["fanout"] = fanout
        result["deliveries_per_s"] = fanout.get("deliveries_per_s")
        result["errors"] += fanout.get("errors", [])
        memory = fanout
        if options.idle_clients:
            with _running(name, options) as (pid, port):
                memory = _loadgen(pid, port, options.idle_clients, 0, options.timeout)
            result["memory"] = memory
            result["errors"] += memory.get("errors", [])
        result["rss_per_idle_connection_kb"] = memory.get("rss_per_idle_connection_kb")
    except RuntimeError as error:
        result["errors"].append(str(error))
    return result


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help="fan-out clients (1000)")
    parser.add_argument("--says", type=int, default=100, help="'say' events by client 0 (100)")
    parser.add_argument(
        "--idle-clients",
        type=int,
        default=2000,
        help="clients for the memory measure, on a fresh server (2000; 0: the fan-out's)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)}",
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds, reporting medians (1)")
    parser.add_argument(
        "--ws",
        default="websockets-sansio",
        help="uvicorn ws implementation for the Python servers (websockets-sansio)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per phase (60)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--verbose", action="store_true", help="show the servers' output")
    options = parser.parse_args()

    names = [name.strip() for name in options.servers.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVERS]
    if unknown or not names:
        parser.error(f"unknown servers {unknown}; choose from {', '.join(SERVERS)}")
    if _node() is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        print("fanout: needs node and `npm ci` in benchmarks/node", file=sys.stderr)
        return 2
    # A SIGTERM unwinds like an error, so that every server subprocess is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    skipped: dict[str, str] = {}
    for name in names:
        why = SERVERS[name].missing()
        if why is not None:
            skipped[name] = why
    for round_ in range(options.rounds):
        for name in names:  # interleaved: each round runs every server once
            if name in skipped:
                continue
            result = measure(name, options)
            runs[name].append(result)
            if options.rounds > 1 or result["errors"]:
                rate = _fmt(result.get("deliveries_per_s"))
                rss = _fmt(result.get("rss_per_idle_connection_kb"), 1)
                print(
                    f"# round {round_ + 1} server={name} deliveries_per_s={rate} "
                    f"rss_per_idle_connection_kb={rss} errors={len(result['errors'])}",
                    file=sys.stderr,
                )
            for error in result["errors"]:
                print(f"#   {name}: {error}", file=sys.stderr)

    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        results = runs[name]
        summary[name] = {
            "deliveries_per_s": _median([r.get("deliveries_per_s") for r in results]),
            "rss_per_idle_connection_kb": _median(
                [r.get("rss_per_idle_connection_kb") for r in results]
            ),
            "error_count": sum(len(r["errors"]) for r in results),
            "skipped": skipped.get(name),
        }
    ratios: dict[str, float | None] = {}
    for ours in (name for name in names if name.startswith(OURS_PREFIX)):
        for peer in (name for name in names if not name.startswith(OURS_PREFIX)):
            a = summary[ours]["deliveries_per_s"]
            b = summary[peer]["deliveries_per_s"]
            ratios[f"{ours}/{peer}"] = a / b if a and b else None

    if options.json:
        report = {
            "clients": options.clients,
            "says": options.says,
            "idle_clients": options.idle_clients or options.clients,
            "rounds": options.rounds,
            "ws": options.ws,
            "servers": summary,
            "ratios": ratios,
            "runs": runs,
        }
        print(json.dumps(report, indent=2))
    else:
        print(
            f"# clients={options.clients} says={options.says} "
            f"idle_clients={options.idle_clients or options.clients} rounds={options.rounds} "
            f"ws={options.ws} cpus={os.cpu_count()}"
        )
        for name in names:
            line = summary[name]
            if line["skipped"]:
                print(f"server={name} skipped ({line['skipped']})")
                continue
            errors = f" errors={line['error_count']}" if line["error_count"] else ""
            print(
                f"server={name} deliveries_per_s={_fmt(line['deliveries_per_s'])} "
                f"rss_per_idle_connection_kb={_fmt(line['rss_per_idle_connection_kb'], 1)}{errors}"
            )
        if ratios:
            print("ratio " + " ".join(f"{key}={_fmt(value, 2)}" for key, value in ratios.items()))
    failed = any(summary[name]["error_count"] for name in names)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
