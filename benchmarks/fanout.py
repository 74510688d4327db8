"""End-to-end fan-out benchmark: sansio-rooms vs python-socketio vs Node socket.io.

Real clients on loopback (Engine.IO v4 / Socket.IO v5, "/"), N = 1,000 of them, S = 100 says
each; the workloads (``--workloads``, all by default):

* burst: the bench README's section 2. Every client joins room "bench" (``join``, with an ack)
  over the websocket transport; client 0 sends S "say" back to back and for each the server
  does ``socket.to("bench").emit("msg", m)``: (N - 1) * S = 99,900 deliveries.
* paced1: the same, one broadcast in flight: say i+1 goes once every client got msg i.
* paced10: the same, up to 10 in flight: say i+10 goes once msg i has fully arrived.
* pairs: N clients in N/2 rooms of two ("pair0".."pair499", ``joinroom`` with an ack); every
  client sends its S says back to back, all at once, each to its room: N * S = 100,000
  events in, as many deliveries, each to the partner only.
* polling: burst over HTTP long-polling only (never upgrading).
* asgi_burst: burst with sansio-rooms served by an ASGI server instead of its own (the
  servers' ``--asgi``: asyncio on uvicorn, trio on hypercorn's trio worker): what the app
  costs mounted in a web framework. python-socketio and Node run their plain burst beside
  it, as the comparison.

Figures per workload and server, medians over ``--rounds``: deliveries per second, from the
first "say" to the last delivery, and the server's CPU time over that phase (utime + stime of
its process, /proc/<pid>/stat) per delivery. The load generator checks every delivery (the
right value, in order, exactly once, to nobody else): a wrong or missing one is an error.
Memory: the server's RSS growth over 2,000 idle websocket clients joined to one room, per
client, on a fresh server of its own each round.

Each measure runs on a fresh server process (one event loop: sansio-rooms on its bindings'
own server, ``serve()``, except in asgi_burst; python-socketio on uvicorn) on a free
127.0.0.1 port; the load generator is one Node program for all of them
(benchmarks/node/loadgen.js: raw clients speaking the protocol by hand). Rounds are
interleaved (each round runs every workload on every server), so the ratios compare like
with like on a noisy machine. The load generator and the server share the machine's cores.
This prints figures; it never fails on a slow machine: it exits non-zero only if a server
misbehaved (a wrong, missing or extra delivery, including one still missing at the
--timeout deadline of a phase) or could not be run.

Usage: python benchmarks/fanout.py [--workloads a,b] [--servers a,b] [--rounds 3]
                                   [--clients 1000] [--says 100] [--idle-clients 2000]
                                   [--ws websockets-sansio] [--timeout 60] [--json]
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
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
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Milliseconds between the last join and the measure: long enough for the RSS to settle
# where it is reported, short elsewhere (the server is idle once every join is acknowledged).
MEMORY_SETTLE_MS = 500
SETTLE_MS = 100


@dataclass(frozen=True)
class ServerKind:
    """How to run one server: the command (given the port, the options and the workload's
    extra flags), and what it needs (None if it can run, else why not)."""

    command: Callable[[int, argparse.Namespace, tuple[str, ...]], list[str]]
    missing: Callable[[], str | None]


@dataclass(frozen=True)
class Workload:
    """One workload: the load generator's options, the extra flags of some servers, and the
    servers it leaves out (name: why)."""

    loadgen: tuple[str, ...]
    server_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    excluded: Mapping[str, str] = field(default_factory=dict)


def _python_server(script: str) -> ServerKind:
    def command(port: int, options: argparse.Namespace, flags: tuple[str, ...]) -> list[str]:
        return [
            sys.executable,
            str(SERVERS_DIR / script),
            "--port",
            str(port),
            "--ws",
            options.ws,
            *flags,
        ]

    return ServerKind(command, lambda: None)


def _node_server(script: str, package: str) -> ServerKind:
    def command(port: int, options: argparse.Namespace, flags: tuple[str, ...]) -> list[str]:
        return [_node() or "node", str(SERVERS_DIR / script), "--port", str(port), *flags]

    def missing() -> str | None:
        if _node() is None:
            return "node not found"
        if not (NODE_DIR / "node_modules" / package).is_dir():
            return f"{package} not installed (cd benchmarks/node && npm ci)"
        return None

    return ServerKind(command, missing)


# One entry per server; names starting with OURS_PREFIX are ours, the others are peers. Each
# is started directly (no shell, no wrapper): the pid of the process is the serving process,
# whose RSS and CPU time the load generator reads.
SERVERS: dict[str, ServerKind] = {
    "sansio_rooms_asyncio": _python_server("sansio_rooms_asyncio_server.py"),
    "sansio_rooms_trio": _python_server("sansio_rooms_trio_server.py"),
    "python_socketio": _python_server("python_socketio_server.py"),
    "node_socketio": _node_server("node_socketio_server.js", "socket.io"),
}

_ROOM = ("--transport", "websocket", "--rooms", "bench")
WORKLOADS: dict[str, Workload] = {
    "burst": Workload((*_ROOM, "--window", "0")),
    "paced1": Workload((*_ROOM, "--window", "1")),
    "paced10": Workload((*_ROOM, "--window", "10")),
    "pairs": Workload(("--transport", "websocket", "--rooms", "pairs", "--window", "0")),
    "polling": Workload(("--transport", "polling", "--rooms", "bench", "--window", "0")),
    "asgi_burst": Workload(
        (*_ROOM, "--window", "0"),
        server_flags={"sansio_rooms_asyncio": ("--asgi",), "sansio_rooms_trio": ("--asgi",)},
    ),
}
MEMORY = Workload(_ROOM)  # idle clients, no says


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
def _running(
    name: str, options: argparse.Namespace, flags: tuple[str, ...] = ()
) -> Iterator[tuple[int, int]]:
    """Start server ``name`` on a free port; yield (pid, port); always stop it."""
    port = _free_port()
    # Output to a file, never a pipe: a full pipe would block the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            SERVERS[name].command(port, options, flags),
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


def _loadgen(
    pid: int, port: int, args: tuple[str, ...], options: argparse.Namespace
) -> dict[str, Any]:
    """Run the load generator once; its JSON report (errors included, never raises on them)."""
    command = [
        _node() or "node",
        str(LOADGEN),
        "--port",
        str(port),
        "--pid",
        str(pid),
        "--timeout",
        str(options.timeout),
        *args,
    ]
    try:
        done = subprocess.run(
            command,
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=3 * options.timeout + 30,  # the load generator bounds each phase itself
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


def _add_errors(result: dict[str, Any], report: dict[str, Any]) -> None:
    """The report's errors into the result, and how many it counted but did not keep."""
    errors = report.get("errors", [])
    result["errors"] += errors
    result["errors_not_kept"] = max(0, report.get("error_count", 0) - len(errors))


def _error_count(result: dict[str, Any]) -> int:
    return len(result["errors"]) + result.get("errors_not_kept", 0)


def measure(workload: str, name: str, options: argparse.Namespace) -> dict[str, Any]:
    """One round of one workload on one server, on a fresh server process."""
    spec = WORKLOADS[workload]
    result: dict[str, Any] = {"workload": workload, "server": name, "errors": []}
    # With --idle-clients 0, the burst's clients (joined, before the says) give the memory.
    settle = MEMORY_SETTLE_MS if workload == "burst" and not options.idle_clients else SETTLE_MS
    args = (
        *spec.loadgen,
        "--clients",
        str(options.clients),
        "--says",
        str(options.says),
        "--settle-ms",
        str(settle),
    )
    try:
        with _running(name, options, spec.server_flags.get(name, ())) as (pid, port):
            report = _loadgen(pid, port, args, options)
    except RuntimeError as error:
        result["errors"].append(str(error))
        return result
    result["report"] = report
    _add_errors(result, report)
    result["deliveries_per_s"] = report.get("deliveries_per_s")
    result["loadgen_cpu_share"] = report.get("loadgen_cpu_share")
    ticks, deliveries = report.get("cpu_ticks"), report.get("deliveries")
    if ticks is not None and deliveries:
        result["cpu_us_per_delivery"] = ticks / CLK_TCK * 1e6 / deliveries
    result["rss_per_idle_connection_kb"] = report.get("rss_per_idle_connection_kb")
    return result


def measure_memory(name: str, options: argparse.Namespace) -> dict[str, Any]:
    """One round of the idle-memory measure on one server, on a fresh server process."""
    result: dict[str, Any] = {"server": name, "errors": []}
    args = (
        *MEMORY.loadgen,
        "--clients",
        str(options.idle_clients),
        "--says",
        "0",
        "--settle-ms",
        str(MEMORY_SETTLE_MS),
    )
    try:
        with _running(name, options) as (pid, port):
            report = _loadgen(pid, port, args, options)
    except RuntimeError as error:
        result["errors"].append(str(error))
        return result
    result["report"] = report
    _add_errors(result, report)
    result["rss_per_idle_connection_kb"] = report.get("rss_per_idle_connection_kb")
    return result


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds of one workload on one server, and the spread of the rate."""
    rates = [r["deliveries_per_s"] for r in results if r.get("deliveries_per_s") is not None]
    return {
        "deliveries_per_s": _median(rates),
        "cpu_us_per_delivery": _median([r.get("cpu_us_per_delivery") for r in results]),
        "loadgen_cpu_share": _median([r.get("loadgen_cpu_share") for r in results]),
        "spread": [min(rates), max(rates)] if rates else None,
        "error_count": sum(_error_count(r) for r in results),
    }


def _ratios(summary: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Ours over each peer, on the median deliveries per second."""
    names = list(summary)
    ratios: dict[str, float | None] = {}
    for ours in (name for name in names if name.startswith(OURS_PREFIX)):
        for peer in (name for name in names if not name.startswith(OURS_PREFIX)):
            a = summary[ours]["deliveries_per_s"]
            b = summary[peer]["deliveries_per_s"]
            ratios[f"{ours}/{peer}"] = a / b if a and b else None
    return ratios


def _report(result: dict[str, Any], round_: int, options: argparse.Namespace) -> None:
    """One measure's line on stderr (every one when there are rounds, else the failed)."""
    if options.rounds > 1 or result["errors"]:
        where = f"workload={result['workload']} " if "workload" in result else "memory "
        if "workload" in result:
            figures = (
                f"deliveries_per_s={_fmt(result.get('deliveries_per_s'))} "
                f"cpu_us_per_delivery={_fmt(result.get('cpu_us_per_delivery'), 2)}"
            )
        else:
            figures = (
                f"rss_per_idle_connection_kb={_fmt(result.get('rss_per_idle_connection_kb'), 1)}"
            )
        print(
            f"# round {round_ + 1} {where}server={result['server']} {figures} "
            f"errors={_error_count(result)}",
            file=sys.stderr,
            flush=True,
        )
    for error in result["errors"]:
        print(f"#   {result['server']}: {error}", file=sys.stderr, flush=True)


def _subset(text: str, choices: Mapping[str, Any], what: str, parser: Any) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        parser.error(f"unknown {what} {unknown}; choose from {', '.join(choices)}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)}",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, reporting medians (3)")
    parser.add_argument("--clients", type=int, default=1000, help="clients (1000; even)")
    parser.add_argument("--says", type=int, default=100, help="'say' events per sender (100)")
    parser.add_argument(
        "--idle-clients",
        type=int,
        default=2000,
        help="clients for the memory measure, on a fresh server (2000; 0: the burst's clients)",
    )
    parser.add_argument(
        "--ws",
        default="websockets-sansio",
        help="uvicorn ws implementation for the Python servers (websockets-sansio)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per phase (60)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--verbose", action="store_true", help="show the servers' output")
    options = parser.parse_args()

    workloads = _subset(options.workloads, WORKLOADS, "workloads", parser)
    names = _subset(options.servers, SERVERS, "servers", parser)
    if options.clients < 2 or options.clients % 2:
        parser.error("--clients must be even and at least 2 (pairs of clients)")
    if _node() is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        print("fanout: needs node and `npm ci` in benchmarks/node", file=sys.stderr)
        return 2
    # A SIGTERM unwinds like an error, so that every server subprocess is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    skipped = {name: why for name in names if (why := SERVERS[name].missing()) is not None}
    running = [name for name in names if name not in skipped]
    plan = {w: [name for name in running if name not in WORKLOADS[w].excluded] for w in workloads}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {name: [] for name in plan[w]} for w in workloads
    }
    memory_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in running}
    for round_ in range(options.rounds):  # interleaved: each round runs everything once
        for workload in workloads:
            for name in plan[workload]:
                result = measure(workload, name, options)
                runs[workload][name].append(result)
                _report(result, round_, options)
        if options.idle_clients:
            for name in running:
                result = measure_memory(name, options)
                memory_runs[name].append(result)
                _report(result, round_, options)

    summary = {w: {name: _summary(runs[w][name]) for name in plan[w]} for w in workloads}
    ratios = {w: _ratios(summary[w]) for w in workloads}
    # With --idle-clients 0 the burst's runs give the memory (their errors are the burst's).
    sources = memory_runs if options.idle_clients else runs.get("burst", {})
    memory = {
        name: {
            "rss_per_idle_connection_kb": _median(
                [r.get("rss_per_idle_connection_kb") for r in sources.get(name, [])]
            ),
            "error_count": sum(_error_count(r) for r in memory_runs[name]),
        }
        for name in running
    }
    excluded = {
        w: {name: why for name, why in WORKLOADS[w].excluded.items() if name in running}
        for w in workloads
    }

    if options.json:
        document = {
            "clients": options.clients,
            "says": options.says,
            "idle_clients": options.idle_clients or options.clients,
            "rounds": options.rounds,
            "ws": options.ws,
            "clk_tck": CLK_TCK,
            "workloads": summary,
            "ratios": ratios,
            "memory": memory,
            "skipped": skipped,
            "excluded": excluded,
            "runs": runs,
            "memory_runs": memory_runs,
        }
        print(json.dumps(document, indent=2))
    else:
        print(
            f"# clients={options.clients} says={options.says} "
            f"idle_clients={options.idle_clients or options.clients} rounds={options.rounds} "
            f"ws={options.ws} cpus={os.cpu_count()} (medians over the rounds)"
        )
        for name, why in skipped.items():
            print(f"# skipped server={name} ({why})")
        for workload in workloads:
            for name, line in summary[workload].items():
                spread = line["spread"]
                spread_text = f"{spread[0]:.0f}-{spread[1]:.0f}" if spread else "n/a"
                print(
                    f"workload={workload} server={name} "
                    f"deliveries_per_s={_fmt(line['deliveries_per_s'])} "
                    f"cpu_us_per_delivery={_fmt(line['cpu_us_per_delivery'], 2)} "
                    f"spread={spread_text} errors={line['error_count']} "
                    f"loadgen_cpu_share={_fmt(line['loadgen_cpu_share'], 2)}"
                )
            for name, why in excluded[workload].items():
                print(f"# skipped workload={workload} server={name} ({why})")
            if ratios[workload]:
                pairs = " ".join(
                    f"{key}={_fmt(value, 2)}" for key, value in ratios[workload].items()
                )
                print(f"ratio workload={workload} {pairs}")
        for name, line in memory.items():
            errors = f" errors={line['error_count']}" if line["error_count"] else ""
            print(
                f"memory server={name} "
                f"rss_per_idle_connection_kb={_fmt(line['rss_per_idle_connection_kb'], 1)}{errors}"
            )
    failed = any(line["error_count"] for w in workloads for line in summary[w].values())
    failed = failed or any(line["error_count"] for line in memory.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
