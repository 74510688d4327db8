"""Core room-engine benchmark: sansio-rooms vs python-socketio's Manager vs Node's adapter.

The workload of the shared bench README, section 1: one namespace, N = 100,000 sockets;
socket i is in its id room, "big" if i < 10,000, "mid{i % 1000}" and "small{i // 5}".
Ops, each timed on its own and reported in ns per unit:

    build       connect every socket and make every join   (unit: one connect or join)
    room        emit to "big" from socket 0, sender excluded (unit: one delivery)
    union       emit to big + mid0..mid99 except room mid5  (unit: one delivery)
    all         emit to the whole namespace                 (unit: one delivery)
    disconnect  disconnect sockets one by one from s90000   (unit: one disconnect)

A delivery counts when a stub ``send(connection, payload)`` has been called for that socket:
every implementation pays for handing each recipient its payload, and for finding the
recipient's connection, as a server must. sansio-rooms' engine is handed each socket's
connection at connect as its route, and gives the recipients' routes with each broadcast: the
host loop is ``for connection in deliveries.routes: send(connection, payload)``, as in the
server machine. python-socketio's Manager maps each sid to its engine.io sid; Node's adapter
looks up each socket (``nsp.sockets.get(id)``) and calls ``socket.client.writeToEngine``.
Build and disconnect include, for every implementation, the server's own sid-to-socket
bookkeeping: Node's ``nsp.sockets`` map is filled at connect and emptied at disconnect, as
socket.io's ``Namespace`` and ``Socket._cleanup`` do, and makes each id from a counter as our
id factory does; the connection objects are made beforehand, untimed, on both sides.

The peers run in the same process (python-socketio) or a child process (node) that waits
between rounds, in the same run: each round runs the whole workload on a fresh state for
sansio-rooms, then python-socketio, then Node, and the figures printed are medians over the
rounds, with their spread (min..max) and the median of the per-round ratios, so that the
ratios compare like with like on a noisy machine. This is a program that prints figures,
never a test that fails on a slow machine.

Output (text): ``op=`` lines (medians, ns per unit; their ``ratio`` is ours / python-socketio's,
the median of the per-round ratios), the ``memory`` line, ``spread`` lines (min..max over the
rounds) and ``ratio`` lines (ours / each peer's: median and range of the per-round ratios);
one ``# round`` line per round and implementation on stderr.

Usage: python benchmarks/core.py [--n 100000] [--rounds 5] [--json] [--no-node]
                                 [--no-python-socketio]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _socketio_peer import (
    bytes_per_membership_python_socketio,
    run_python_socketio,
)

from sansio_rooms import Namespace, RoomEngine

BIG_SIZE = 10_000
MID_ROOMS = 1_000
SMALL_SIZE = 5
UNION_ROOMS = ["big"] + [f"mid{k}" for k in range(100)]
DISCONNECT_FROM = 90_000
PAYLOAD = {"msg": "hello"}
OPS = ("build", "room", "union", "all", "disconnect")
NODE_DIR = Path(__file__).resolve().parent / "node"


class Connection:
    """What a server keeps per socket (a binding's route to the transport)."""

    __slots__ = ("sid",)

    def __init__(self, sid: str) -> None:
        self.sid = sid


class Sink:
    """The stub transport: one call per delivery (same shape as the peers' stubs)."""

    def __init__(self) -> None:
        self.count = 0

    def send(self, connection: Connection, payload: Any) -> None:
        self.count += 1


def _plan(n: int) -> list[tuple[str, ...]]:
    plan = []
    for i in range(n):
        rooms: tuple[str, ...] = (f"mid{i % MID_ROOMS}", f"small{i // SMALL_SIZE}")
        plan.append(("big", *rooms) if i < BIG_SIZE else rooms)
    return plan


def _new_engine() -> RoomEngine:
    # Ids made inside the engine, like python-socketio's stub generate_id(): the cost of
    # making and storing them is counted for both.
    counter = itertools.count()
    return RoomEngine(id_factory=lambda: f"s{next(counter)}")


def _build(nsp: Namespace, plan: list[tuple[str, ...]]) -> list[str]:
    sids = []
    connect = nsp.connect
    join = nsp.join
    for index, rooms in enumerate(plan):
        # The server hands the engine each socket's index in its table of connections as
        # the socket's route.
        sid = connect(route=index)[-1].sid  # type: ignore[union-attr]
        sids.append(sid)
        for room in rooms:
            join(sid, room)
    return sids


def _deliver(
    nsp: Namespace, connections: list[Connection], sink: Sink, repeats: int, **selection: Any
) -> int:
    emit = nsp.emit
    send = sink.send
    for _ in range(repeats):
        deliveries = emit(PAYLOAD, **selection)
        payload = deliveries.payload
        for index in deliveries.routes:
            send(connections[index], payload)
    return sink.count


def run_sansio_rooms(n: int, repeats: dict[str, int]) -> dict[str, float]:
    """One round of the workload on a fresh engine: ns per unit for each op."""
    plan = _plan(n)
    build_units = n + sum(len(rooms) for rooms in plan)
    nsp = _new_engine().namespace("/")
    results: dict[str, float] = {}

    gc.collect()
    t0 = time.perf_counter_ns()
    sids = _build(nsp, plan)
    results["build"] = (time.perf_counter_ns() - t0) / build_units
    # The server's side of each socket, made untimed like Node's fake sockets, at the index
    # each socket's route gives.
    connections = [Connection(sid) for sid in sids]

    union_expected = len(nsp.members_of(UNION_ROOMS, except_="mid5"))
    cases: dict[str, tuple[dict[str, Any], int]] = {
        "room": ({"rooms": ["big"], "sender": sids[0]}, min(n, BIG_SIZE) - 1),
        "union": ({"rooms": UNION_ROOMS, "except_": ["mid5"]}, union_expected),
        "all": ({}, n),
    }
    for op, (selection, per_emit) in cases.items():
        sink = Sink()
        gc.collect()
        t0 = time.perf_counter_ns()
        count = _deliver(nsp, connections, sink, repeats[op], **selection)
        elapsed = time.perf_counter_ns() - t0
        assert count == per_emit * repeats[op], (op, count, per_emit)
        results[op] = elapsed / count

    leaving = sids[DISCONNECT_FROM:]
    disconnect = nsp.disconnect
    gc.collect()
    t0 = time.perf_counter_ns()
    for sid in leaving:
        disconnect(sid)
    results["disconnect"] = (time.perf_counter_ns() - t0) / len(leaving)
    assert nsp.count_sockets() == n - len(leaving)
    return results


def bytes_per_membership_sansio_rooms(n: int) -> float:
    plan = _plan(n)
    memberships = n + sum(len(rooms) for rooms in plan)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    engine = _new_engine()
    _build(engine.namespace("/"), plan)
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (after - before) / memberships


class NodePeer:
    """Node's socket.io-adapter on the same workload, in a child process that runs one round
    each time it is asked (``core.js --serve``) and is idle in between."""

    def __init__(self, node: str, n: int, repeats: dict[str, int]) -> None:
        args = [
            node,
            str(NODE_DIR / "core.js"),
            f"--n={n}",
            f"--room-repeats={repeats['room']}",
            f"--union-repeats={repeats['union']}",
            f"--all-repeats={repeats['all']}",
            "--serve",
        ]
        self._process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run_round(self) -> dict[str, float]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"node core.js exited with {self._process.wait()}")
        result: dict[str, float] = json.loads(line)
        return result

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait()


def start_node(n: int, repeats: dict[str, int]) -> NodePeer | None:
    """The Node peer, or None if node or its packages are missing (``make bench`` installs
    them with ``npm ci``)."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "socket.io-adapter").is_dir():
        return None
    return NodePeer(node, n, repeats)


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}..{max(values):.1f}"


def _ratio(value: float) -> str:
    # Three decimals, or two significant digits for python-socketio's disconnect (~0.0003).
    return f"{value:.3f}" if value >= 0.01 else f"{value:.2g}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--json", action="store_true", help="one JSON object, for machines")
    parser.add_argument("--no-node", action="store_true", help="skip the Node peer")
    parser.add_argument(
        "--no-python-socketio", action="store_true", help="skip the python-socketio peer"
    )
    args = parser.parse_args(argv)
    if args.n <= DISCONNECT_FROM:
        parser.error(f"--n must be more than {DISCONNECT_FROM}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    repeats = {"room": 50, "union": 50, "all": 10}

    runs: dict[str, list[dict[str, float]]] = {"sansio_rooms": []}
    if not args.no_python_socketio:
        runs["python_socketio"] = []
    node = None if args.no_node else start_node(args.n, repeats)
    if node is not None:
        runs["node"] = []
    try:
        for round_ in range(args.rounds):
            for name, round_runs in runs.items():
                if name == "sansio_rooms":
                    result = run_sansio_rooms(args.n, repeats)
                elif name == "python_socketio":
                    result = run_python_socketio(
                        args.n, repeats["room"], repeats["union"], repeats["all"]
                    )
                else:
                    assert node is not None
                    result = node.run_round()
                round_runs.append(result)
                figures = " ".join(f"{op}={result[op]:.1f}" for op in OPS)
                print(f"# round {round_ + 1} {name} {figures}", file=sys.stderr)
    finally:
        if node is not None:
            node.close()

    medians = {
        name: {op: statistics.median(r[op] for r in round_runs) for op in OPS}
        for name, round_runs in runs.items()
    }
    # Ratios paired within a round (the same machine load for both), then the median.
    ratios = {
        peer: {
            op: [
                ours[op] / theirs[op]
                for ours, theirs in zip(runs["sansio_rooms"], peer_runs, strict=True)
            ]
            for op in OPS
        }
        for peer, peer_runs in runs.items()
        if peer != "sansio_rooms"
    }
    memory = {"sansio_rooms": bytes_per_membership_sansio_rooms(args.n)}
    if not args.no_python_socketio:
        memory["python_socketio"] = bytes_per_membership_python_socketio(args.n)
    if args.json:
        report = {
            "n": args.n,
            "rounds": args.rounds,
            "sansio_rooms": medians["sansio_rooms"],
            "python_socketio": medians.get("python_socketio"),
            "node": medians.get("node"),
            "ratios": {
                f"sansio_rooms/{peer}": {op: statistics.median(v) for op, v in by_op.items()}
                for peer, by_op in ratios.items()
            },
            "runs": runs,
        }
        print(json.dumps({**report, "bytes_per_membership": memory}))
        return

    def figure(name: str, op: str) -> str:
        return f"{medians[name][op]:.1f}" if name in medians else "n/a"

    print(f"# n={args.n} rounds={args.rounds} cpus={os.cpu_count()} (medians over the rounds)")
    ours = medians["sansio_rooms"]
    for op in OPS:
        psio = ratios.get("python_socketio")
        ratio = "n/a" if psio is None else f"{statistics.median(psio[op]):.4f}"
        print(
            f"op={op} sansio_rooms_ns={ours[op]:.1f} "
            f"python_socketio_ns={figure('python_socketio', op)} "
            f"ratio={ratio} node_ns={figure('node', op)}"
        )
    if "python_socketio" in memory:
        print(
            f"memory bytes_per_membership sansio_rooms={memory['sansio_rooms']:.1f} "
            f"python_socketio={memory['python_socketio']:.1f} "
            f"ratio={memory['sansio_rooms'] / memory['python_socketio']:.3f}"
        )
    else:
        print(f"memory bytes_per_membership sansio_rooms={memory['sansio_rooms']:.1f}")
    for op in OPS:
        spreads = " ".join(
            f"{name}_ns={_spread([r[op] for r in round_runs])}" for name, round_runs in runs.items()
        )
        print(f"spread op={op} {spreads}")
    for op in OPS:
        fields = []
        for peer, by_op in ratios.items():
            fields.append(f"sansio_rooms/{peer}={_ratio(statistics.median(by_op[op]))}")
            fields.append(
                f"sansio_rooms/{peer}_range={_ratio(min(by_op[op]))}..{_ratio(max(by_op[op]))}"
            )
        if fields:
            print(f"ratio op={op} " + " ".join(fields))


if __name__ == "__main__":
    main()
