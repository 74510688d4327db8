"""Cluster benchmark: fan-out across two server processes through Redis, and the emitters.

**Fan-out.** For each server kind, two server processes of that kind (same implementation, each
on its own free 127.0.0.1 port) share one fresh ``redis-server`` of this benchmark's own
(persistence off; never the machine's 6379). The load generator (benchmarks/node/
cluster_loadgen.js: raw ``ws`` clients speaking Engine.IO v4 / Socket.IO v5 by hand, the same
program for every kind) connects N clients (default 1,000), client i to server i % 2, and each
joins room "bench" (with an ack). Once Redis shows both servers subscribed, client 0 (on server
A) emits M "say" events (default 100) back to back and for each the server does
``socket.to("bench").emit("msg", m)``, the sender excluded: A delivers to its own members and
publishes, B delivers to its members what it reads from Redis. (N - 1) x M deliveries, every
client checked to get each of 0..M-1 exactly once; deliveries that reach a client after a later
"say" are counted (``reordered``), not refused: python-socketio handles each event in a task of
its own and publishes on a pool of connections, so its order across servers is not kept.
Figures: deliveries per second from the first "say" to the last delivery, over all clients of
both servers; p99 latency of a delivery, from the send of its "say" to its receipt (one clock:
the load generator's; the says go out in one burst, so the late deliveries' latency is mostly
the burst's own queue); when server B's clients got their first delivery, through Redis
(``remote_first_ms``, from the first "say"); the CPU seconds per 1,000 deliveries of the two
server processes, and of Redis (utime+stime from /proc/<pid>/stat, read by the load generator
just before the first "say" and just after the last delivery); the load generator's own CPU
time over the elapsed time (``loadgen_cpu_share``: near 1, it is the limit).

Server kinds: ``sansio_rooms_asyncio`` (AsyncServer + RedisAdapter, ASGI on uvicorn),
``sansio_rooms_trio`` (its trio binding + RedisAdapter on hypercorn's trio worker, when that
binding has a RedisAdapter), ``python_socketio`` (AsyncServer with AsyncRedisManager, on
uvicorn with the same settings), ``node_socketio`` (socket.io 4.8.4 with
@socket.io/redis-adapter 8.3.0 ``createAdapter``, node-redis 4.7.1).

**Emitter.** Publishes per second of K (default 20,000) ``emitter.to("bench").emit("msg", i)``
to a fresh Redis where one server (Node socket.io with the Redis adapter, pattern-subscribed
to the namespace's channels) listens, so every PUBLISH is delivered to a subscriber. Ours:
``Emitter`` on redis-py's blocking client (one round trip per emit; and on a pipeline
executed every 1,000 emits) and ``AsyncEmitter`` on redis.asyncio (each emit awaited in turn;
on a pipeline executed every 1,000 emits; and 64 in flight at a time with
``asyncio.gather``); Node's ``@socket.io/redis-emitter`` 5.1.0 on node-redis 4.7.1 (emit
does not wait; node-redis pipelines what is written in one tick).
Each run is checked against Redis' own count of PUBLISH calls.

Every kind runs in the same run, rounds interleaved (``--rounds``, default 3), medians
reported with ratios: on these noisy machines a ratio measured side by side means more than
an absolute figure. The servers, Redis and the load generator share the machine's cores. This
prints figures; it never fails on a slow machine (it exits non-zero only if something
misbehaved: a server or Redis could not run, a delivery was missing, out of order or
duplicated, a count of publishes was off).

Usage: python benchmarks/cluster.py [--clients 1000] [--says 100] [--emits 20000] [--rounds 3]
           [--servers a,b] [--emitters a,b] [--ws websockets-sansio] [--timeout 60] [--json]
Needs ``npm ci`` in benchmarks/node (``make bench`` does it) and ``redis-server`` on PATH.
With ``CLUSTER_CPROFILE=/tmp/prof`` in the environment, each Python server writes its cProfile
stats (the whole run: connects included) to ``/tmp/prof.<pid>`` when it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVERS_DIR = HERE / "cluster_servers"
NODE_DIR = HERE / "node"
LOADGEN = NODE_DIR / "cluster_loadgen.js"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # seconds for a server to listen
SUBSCRIBE_TIMEOUT = 10.0  # seconds for both servers to be subscribed to Redis
STOP_TIMEOUT = 10.0  # seconds for a server to exit after SIGINT
OURS_PREFIX = "sansio_rooms_"
NODE_EMITTER = "node_redis_emitter"
EMITTER_SUBSCRIBER = "node_socketio"  # the server listening while the emitters publish
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The throwaway redis-server of the cluster tests (its own process on a free port, no
# persistence, killed afterwards) and its tiny RESP client.
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from _redis import RedisServer, RedisServerMissing, command  # noqa: E402

sys.path.pop(0)


def _node() -> str | None:
    return shutil.which("node")


def _node_missing(*packages: str) -> str | None:
    if _node() is None:
        return "node not found"
    for package in packages:
        if not (NODE_DIR / "node_modules" / package).is_dir():
            return f"{package} not installed (cd benchmarks/node && npm ci)"
    return None


@dataclass(frozen=True)
class ServerKind:
    """How to run one server: the command (given the port, the Redis URL and the options),
    and what it needs (None if it can run, else why not)."""

    command: Callable[[int, str, argparse.Namespace], list[str]]
    missing: Callable[[], str | None]


def _python_server(script: str, missing: Callable[[], str | None]) -> ServerKind:
    def command(port: int, redis_url: str, options: argparse.Namespace) -> list[str]:
        return [
            sys.executable,
            str(SERVERS_DIR / script),
            "--port",
            str(port),
            "--redis",
            redis_url,
            "--ws",
            options.ws,
        ]

    return ServerKind(command, missing)


def _node_server(script: str) -> ServerKind:
    def command(port: int, redis_url: str, options: argparse.Namespace) -> list[str]:
        return [
            _node() or "node",
            str(SERVERS_DIR / script),
            "--port",
            str(port),
            "--redis",
            redis_url,
        ]

    return ServerKind(
        command, lambda: _node_missing("socket.io", "@socket.io/redis-adapter", "redis")
    )


def _needs(module: str, attribute: str | None = None) -> Callable[[], str | None]:
    def missing() -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} not installed"
        if attribute is None:
            return None
        # Asked in a child: importing the binding here would cost every run its import.
        probe = f"import {module}; {module}.{attribute}"
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=False)
        return None if done.returncode == 0 else f"{module}.{attribute} not available yet"

    return missing


# One entry per server kind; names starting with OURS_PREFIX are ours, the others are peers.
SERVERS: dict[str, ServerKind] = {
    "sansio_rooms_asyncio": _python_server(
        "sansio_rooms_asyncio_server.py", _needs("sansio_rooms_asyncio", "RedisAdapter")
    ),
    "sansio_rooms_trio": _python_server(
        "sansio_rooms_trio_server.py", _needs("sansio_rooms_trio", "RedisAdapter")
    ),
    "python_socketio": _python_server("python_socketio_server.py", _needs("socketio")),
    "node_socketio": _node_server("node_socketio_server.js"),
}


@dataclass(frozen=True)
class EmitterKind:
    command: Callable[[str, argparse.Namespace], list[str]]
    missing: Callable[[], str | None]


def _our_emitter(kind: str) -> EmitterKind:
    def command(redis_url: str, options: argparse.Namespace) -> list[str]:
        return [
            sys.executable,
            str(SERVERS_DIR / "sansio_rooms_emitter.py"),
            "--kind",
            kind,
            "--redis",
            redis_url,
            "--count",
            str(options.emits),
        ]

    return EmitterKind(command, _needs("sansio_rooms", "AsyncEmitter"))


def _node_emitter(redis_url: str, options: argparse.Namespace) -> list[str]:
    script = NODE_DIR / "cluster_emitter.js"
    return [_node() or "node", str(script), "--redis", redis_url, "--count", str(options.emits)]


EMITTERS: dict[str, EmitterKind] = {
    "sansio_rooms_sync": _our_emitter("sync"),
    "sansio_rooms_sync_pipeline": _our_emitter("sync_pipeline"),
    "sansio_rooms_async": _our_emitter("async"),
    "sansio_rooms_async_pipeline": _our_emitter("async_pipeline"),
    "sansio_rooms_async_gather": _our_emitter("async_gather"),
    NODE_EMITTER: EmitterKind(
        _node_emitter, lambda: _node_missing("@socket.io/redis-emitter", "redis")
    ),
}


# --- processes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _tail(log: Any, size: int = 2000) -> str:
    log.seek(0)
    return " | ".join(log.read()[-size:].splitlines())


@contextlib.contextmanager
def _running(
    name: str, redis_url: str, options: argparse.Namespace, label: str
) -> Iterator[tuple[int, int]]:
    """Start server ``name`` on a free port; yield (pid, port); always stop it."""
    port = _free_port()
    # Output to a file, never a pipe: a full pipe would block the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            SERVERS[name].command(port, redis_url, options),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=HERE,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _listening(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} {label} exited ({proc.returncode}): {_tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} {label} did not listen within {START_TIMEOUT:.0f}s")
                time.sleep(0.05)
            yield proc.pid, port
            if proc.poll() is not None:
                raise RuntimeError(f"{name} {label} died ({proc.returncode}): {_tail(log)}")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if options.verbose and (output := _tail(log)):
                print(f"# {name} {label} output: {output}", file=sys.stderr)


def _subscribers(redis: RedisServer) -> int:
    """How many connections of Redis are subscribed to something (channels or patterns)."""
    listing = command(redis, "CLIENT", "LIST")
    assert isinstance(listing, bytes)
    count = 0
    for line in listing.decode().splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if any(int(fields.get(key, "0")) > 0 for key in ("sub", "psub", "ssub")):
            count += 1
    return count


def _wait_subscribed(redis: RedisServer, count: int) -> None:
    deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
    while (seen := _subscribers(redis)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{seen} of {count} servers subscribed to Redis")
        time.sleep(0.02)


def _publish_calls(redis: RedisServer) -> int:
    stats = command(redis, "INFO", "commandstats")
    assert isinstance(stats, bytes)
    for line in stats.decode().splitlines():
        if line.startswith("cmdstat_publish:"):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    return None


def _loadgen(
    ports: tuple[int, int], pids: list[int], redis: RedisServer, options: argparse.Namespace
) -> dict[str, Any]:
    """Run the load generator once: connect and join, wait until both servers are
    subscribed, then say go; its JSON report (errors included, never raises on them)."""
    args = [
        _node() or "node",
        str(LOADGEN),
        "--ports",
        f"{ports[0]},{ports[1]}",
        "--pids",
        ",".join(map(str, pids)),
        "--clients",
        str(options.clients),
        "--says",
        str(options.says),
        "--timeout",
        str(options.timeout),
        "--sync",
        "1",
    ]
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(
            args,
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        # The load generator bounds each of its phases itself; this is the last resort.
        watchdog = threading.Timer(3 * options.timeout + 30, proc.kill)
        watchdog.start()
        problems: list[str] = []
        try:
            assert proc.stdout is not None and proc.stdin is not None
            line = proc.stdout.readline()
            if _last_json(line) == {"event": "joined"}:
                try:
                    _wait_subscribed(redis, 2)
                except RuntimeError as error:
                    problems.append(str(error))
                    proc.stdin.close()  # the load generator gives up: stdin closed
                else:
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                rest = proc.stdout.read()
            else:
                rest = line + proc.stdout.read()
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        report = _last_json(rest)
        if report is None or "error_count" not in report:
            errors.seek(0)
            message = f"load generator failed ({proc.returncode}): {errors.read().strip()[-500:]}"
            report = {"errors": [message], "error_count": 1}
    report["errors"] = problems + report.get("errors", [])
    report["error_count"] = report.get("error_count", 0) + len(problems)
    return report


# --- measures ------------------------------------------------------------------------------


def measure_server(name: str, options: argparse.Namespace) -> dict[str, Any]:
    """One round of one server kind: a fresh Redis, two fresh servers, one fan-out."""
    result: dict[str, Any] = {"server": name, "errors": []}
    try:
        with (
            RedisServer() as redis,
            _running(name, redis.url, options, "A") as (pid_a, port_a),
            _running(name, redis.url, options, "B") as (pid_b, port_b),
        ):
            pids = [pid_a, pid_b] + ([redis.pid] if redis.pid else [])
            fanout = _loadgen((port_a, port_b), pids, redis, options)
        result["fanout"] = fanout
        result["errors"] += fanout.get("errors", [])
        result["cluster_deliveries_per_s"] = fanout.get("deliveries_per_s")
        result["p99_ms"] = fanout.get("p99_ms")
        result["reordered"] = fanout.get("reordered")
        # When server B's clients got their first delivery (through Redis), after the first say.
        first = fanout.get("first_ms_by_server") or []
        result["remote_first_ms"] = first[1] if len(first) == 2 else None
        ticks = fanout.get("cpu_ticks") or []
        delivered = fanout.get("deliveries") or 0
        if len(ticks) >= 2 and None not in ticks[:2] and delivered:
            result["cpu_s_per_1k_deliveries"] = (ticks[0] + ticks[1]) / CLK_TCK / delivered * 1000
            result["cpu_s_by_server"] = [ticks[0] / CLK_TCK, ticks[1] / CLK_TCK]
        if fanout.get("loadgen_cpu_s") is not None and fanout.get("elapsed_s"):
            result["loadgen_cpu_share"] = fanout["loadgen_cpu_s"] / fanout["elapsed_s"]
        if len(ticks) >= 3 and ticks[2] is not None and delivered:
            result["redis_cpu_s_per_1k_deliveries"] = ticks[2] / CLK_TCK / delivered * 1000
    except (RuntimeError, OSError) as error:
        result["errors"].append(str(error))
    return result


def measure_emitters(names: list[str], options: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """One round of every emitter, on one fresh Redis with one server subscribed."""
    results: dict[str, dict[str, Any]] = {name: {"emitter": name, "errors": []} for name in names}
    try:
        with (
            RedisServer() as redis,
            _running(EMITTER_SUBSCRIBER, redis.url, options, "subscriber"),
        ):
            _wait_subscribed(redis, 1)
            for name in names:
                result = results[name]
                before = _publish_calls(redis)
                try:
                    done = subprocess.run(
                        EMITTERS[name].command(redis.url, options),
                        cwd=HERE,
                        capture_output=True,
                        text=True,
                        timeout=options.timeout * 3 + 30,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    result["errors"].append("timed out")
                    continue
                report = _last_json(done.stdout)
                if done.returncode != 0 or report is None:
                    tail = (done.stderr or done.stdout).strip()[-500:]
                    result["errors"].append(f"failed ({done.returncode}): {tail}")
                    continue
                result["errors"] += report.get("errors", [])
                published = _publish_calls(redis) - before
                # A few more than K: the subscriber server's own requests, if any.
                if not options.emits <= published <= options.emits + 10:
                    result["errors"].append(f"{published} PUBLISH calls for {options.emits} emits")
                result["publishes"] = published
                result["publishes_per_s"] = report.get("publishes_per_s")
    except (RuntimeError, OSError) as error:
        for result in results.values():
            result["errors"].append(str(error))
    return results


# --- report --------------------------------------------------------------------------------


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _names(
    text: str, known: dict[str, Any], parser: argparse.ArgumentParser, what: str
) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown {what} {unknown}; choose from {', '.join(known)}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help="clients, half per server (1000)")
    parser.add_argument("--says", type=int, default=100, help="'say' events by client 0 (100)")
    parser.add_argument("--emits", type=int, default=20000, help="emits per emitter run (20000)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)} (empty: none)",
    )
    parser.add_argument(
        "--emitters",
        default=",".join(EMITTERS),
        help=f"comma-separated subset of {','.join(EMITTERS)} (empty: none)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, reporting medians (3)")
    parser.add_argument(
        "--ws",
        default="websockets-sansio",
        help="uvicorn ws implementation for the Python servers (websockets-sansio)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per phase (60)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--verbose", action="store_true", help="show the servers' output")
    options = parser.parse_args()

    servers = _names(options.servers, SERVERS, parser, "servers")
    emitters = _names(options.emitters, EMITTERS, parser, "emitters")
    if options.clients < 3 or options.says < 1 or options.emits < 1:
        parser.error("--clients must be >= 3, --says and --emits >= 1")
    if _node() is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        print("cluster: needs node and `npm ci` in benchmarks/node", file=sys.stderr)
        return 2
    try:
        with RedisServer() as redis:
            redis_version = ".".join(map(str, redis.version))
    except (RedisServerMissing, RuntimeError) as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 2
    # A SIGTERM unwinds like an error, so that every subprocess is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    skipped: dict[str, str] = {}
    for name in servers:
        if (why := SERVERS[name].missing()) is not None:
            skipped[name] = why
    for name in emitters:
        if (why := EMITTERS[name].missing()) is not None:
            skipped[name] = why
    if emitters and (why := SERVERS[EMITTER_SUBSCRIBER].missing()) is not None:
        for name in emitters:
            skipped.setdefault(name, f"no subscriber server: {why}")
    server_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    emitter_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in emitters}

    for round_ in range(options.rounds):
        for name in servers:  # interleaved: each round runs every kind once
            if name in skipped:
                continue
            result = measure_server(name, options)
            server_runs[name].append(result)
            if options.rounds > 1 or result["errors"]:
                print(
                    f"# round {round_ + 1} server={name} "
                    f"cluster_deliveries_per_s={_fmt(result.get('cluster_deliveries_per_s'))} "
                    f"p99_ms={_fmt(result.get('p99_ms'), 1)} errors={len(result['errors'])}",
                    file=sys.stderr,
                )
            for error in result["errors"]:
                print(f"#   {name}: {error}", file=sys.stderr)
        runnable = [name for name in emitters if name not in skipped]
        if runnable:
            for name, result in measure_emitters(runnable, options).items():
                emitter_runs[name].append(result)
                if options.rounds > 1 or result["errors"]:
                    print(
                        f"# round {round_ + 1} emitter={name} "
                        f"publishes_per_s={_fmt(result.get('publishes_per_s'))} "
                        f"errors={len(result['errors'])}",
                        file=sys.stderr,
                    )
                for error in result["errors"]:
                    print(f"#   {name}: {error}", file=sys.stderr)

    server_summary: dict[str, dict[str, Any]] = {}
    for name in servers:
        runs = server_runs[name]
        server_summary[name] = {
            key: _median([r.get(key) for r in runs])
            for key in (
                "cluster_deliveries_per_s",
                "p99_ms",
                "remote_first_ms",
                "cpu_s_per_1k_deliveries",
                "redis_cpu_s_per_1k_deliveries",
                "loadgen_cpu_share",
                "reordered",
            )
        }
        server_summary[name]["error_count"] = sum(len(r["errors"]) for r in runs)
        server_summary[name]["skipped"] = skipped.get(name)
    emitter_summary: dict[str, dict[str, Any]] = {}
    for name in emitters:
        runs = emitter_runs[name]
        emitter_summary[name] = {
            "publishes_per_s": _median([r.get("publishes_per_s") for r in runs]),
            "error_count": sum(len(r["errors"]) for r in runs),
            "skipped": skipped.get(name),
        }

    server_ratios: dict[str, dict[str, float | None]] = {}
    for ours in (name for name in servers if name.startswith(OURS_PREFIX)):
        for peer in (name for name in servers if not name.startswith(OURS_PREFIX)):
            a, b = server_summary[ours], server_summary[peer]
            server_ratios[f"{ours}/{peer}"] = {
                "cluster_deliveries_per_s": _ratio(
                    a["cluster_deliveries_per_s"], b["cluster_deliveries_per_s"]
                ),
                "p99_ms": _ratio(a["p99_ms"], b["p99_ms"]),
            }
    emitter_ratios: dict[str, float | None] = {}
    if NODE_EMITTER in emitters:
        for ours in (name for name in emitters if name.startswith(OURS_PREFIX)):
            emitter_ratios[f"{ours}/{NODE_EMITTER}"] = _ratio(
                emitter_summary[ours]["publishes_per_s"],
                emitter_summary[NODE_EMITTER]["publishes_per_s"],
            )
    # The acceptance targets, said as they are.
    targets: list[tuple[str, float, float | None]] = []
    for key, minimum in (
        ("sansio_rooms_asyncio/python_socketio", 3.0),
        ("sansio_rooms_asyncio/node_socketio", 1.0),
    ):
        if key in server_ratios:
            targets.append((key, minimum, server_ratios[key]["cluster_deliveries_per_s"]))

    if options.json:
        report = {
            "clients": options.clients,
            "says": options.says,
            "emits": options.emits,
            "rounds": options.rounds,
            "ws": options.ws,
            "redis": redis_version,
            "servers": server_summary,
            "emitters": emitter_summary,
            "ratios": server_ratios,
            "emitter_ratios": emitter_ratios,
            "targets": {key: {"minimum": m, "ratio": r} for key, m, r in targets},
            "runs": {"servers": server_runs, "emitters": emitter_runs},
        }
        print(json.dumps(report, indent=2))
    else:
        print(
            f"# clients={options.clients} says={options.says} emits={options.emits} "
            f"rounds={options.rounds} ws={options.ws} redis={redis_version} cpus={os.cpu_count()}"
        )
        for name in servers:
            line = server_summary[name]
            if line["skipped"]:
                print(f"server={name} skipped ({line['skipped']})")
                continue
            errors = f" errors={line['error_count']}" if line["error_count"] else ""
            print(
                f"server={name} "
                f"cluster_deliveries_per_s={_fmt(line['cluster_deliveries_per_s'])} "
                f"p99_ms={_fmt(line['p99_ms'], 1)} "
                f"remote_first_ms={_fmt(line['remote_first_ms'], 1)} "
                f"cpu_s_per_1k_deliveries={_fmt(line['cpu_s_per_1k_deliveries'], 4)} "
                f"redis_cpu_s_per_1k_deliveries={_fmt(line['redis_cpu_s_per_1k_deliveries'], 4)} "
                f"loadgen_cpu_share={_fmt(line['loadgen_cpu_share'], 2)} "
                f"reordered={_fmt(line['reordered'])}{errors}"
            )
        for key, ratio in server_ratios.items():
            print(
                f"ratio {key} cluster_deliveries_per_s={_fmt(ratio['cluster_deliveries_per_s'], 2)}"
                f" p99_ms={_fmt(ratio['p99_ms'], 2)}"
            )
        for key, minimum, value in targets:
            verdict = "n/a" if value is None else ("met" if value >= minimum else "NOT met")
            print(f"# target {key} cluster_deliveries_per_s >= {minimum:g}: {verdict}")
        for name in emitters:
            line = emitter_summary[name]
            if line["skipped"]:
                print(f"emitter={name} skipped ({line['skipped']})")
                continue
            errors = f" errors={line['error_count']}" if line["error_count"] else ""
            print(f"emitter={name} publishes_per_s={_fmt(line['publishes_per_s'])}{errors}")
        for key, value in emitter_ratios.items():
            print(f"ratio {key} publishes_per_s={_fmt(value, 2)}")
    failed = any(line["error_count"] for line in server_summary.values()) or any(
        line["error_count"] for line in emitter_summary.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
