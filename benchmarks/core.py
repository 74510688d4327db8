"""Core room-engine benchmark: sansio-rooms vs python-socketio's Manager vs Node's adapter.

The workload of the shared bench README, section 1: one namespace, N = 100,000 sockets;
socket i is in its id room, "big" if i < 10,000, "mid{i % 1000}" and "small{i // 5}".
Ops, each timed on its own and reported in ns per unit:

    build       connect every socket and make every join   (unit: one connect or join)
    room        emit to "big" from socket 0, sender excluded (unit: one delivery)
    union       emit to big + mid0..mid99 except room mid5  (unit: one delivery)
    all         emit to the whole namespace                 (unit: one delivery)
    disconnect  disconnect sockets one by one from s90000   (unit: one disconnect)

A delivery counts when a stub ``send(sid, payload)`` has been called for that socket: every
implementation pays for handing each recipient its payload. For sansio-rooms the host loop
is the one a binding runs: ``for sid in deliveries.recipients: send(sid, payload)``.
The peers run in the same process (python-socketio) or a child process (node), in the same
run, so the ratios compare like with like on a noisy machine. This is a program that prints
figures, never a test that fails on a slow machine.

Usage: python benchmarks/core.py [--n 100000] [--json] [--no-node]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import shutil
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


class Sink:
    """The stub transport: one call per delivery (same shape as the peers' stubs)."""

    def __init__(self) -> None:
        self.count = 0

    def send(self, sid: str, payload: Any) -> None:
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
    for rooms in plan:
        sid = connect()[-1].sid  # type: ignore[union-attr]
        sids.append(sid)
        for room in rooms:
            join(sid, room)
    return sids


def _deliver(nsp: Namespace, sink: Sink, repeats: int, **selection: Any) -> int:
    emit = nsp.emit
    send = sink.send
    for _ in range(repeats):
        deliveries = emit(PAYLOAD, **selection)
        payload = deliveries.payload
        for sid in deliveries.recipients:
            send(sid, payload)
    return sink.count


def run_sansio_rooms(n: int, repeats: dict[str, int]) -> dict[str, float]:
    plan = _plan(n)
    build_units = n + sum(len(rooms) for rooms in plan)
    nsp = _new_engine().namespace("/")
    results: dict[str, float] = {}

    gc.collect()
    t0 = time.perf_counter_ns()
    sids = _build(nsp, plan)
    results["build"] = (time.perf_counter_ns() - t0) / build_units

    union_expected = len(nsp.members_of(UNION_ROOMS, except_="mid5"))
    cases = {
        "room": ({"rooms": ["big"], "sender": sids[0]}, min(n, BIG_SIZE) - 1),
        "union": ({"rooms": UNION_ROOMS, "except_": ["mid5"]}, union_expected),
        "all": ({}, n),
    }
    for op, (selection, per_emit) in cases.items():
        sink = Sink()
        gc.collect()
        t0 = time.perf_counter_ns()
        count = _deliver(nsp, sink, repeats[op], **selection)
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


def run_node(n: int, repeats: dict[str, int]) -> dict[str, float] | None:
    """The same workload on Node's socket.io-adapter, or None if node or its packages are
    missing (``make bench`` installs them with ``npm ci``)."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "socket.io-adapter").is_dir():
        return None
    args = [
        node,
        str(NODE_DIR / "core.js"),
        f"--n={n}",
        f"--room-repeats={repeats['room']}",
        f"--union-repeats={repeats['union']}",
        f"--all-repeats={repeats['all']}",
    ]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="one JSON object, for machines")
    parser.add_argument("--no-node", action="store_true", help="skip the Node peer")
    args = parser.parse_args(argv)
    if args.n <= DISCONNECT_FROM:
        parser.error(f"--n must be more than {DISCONNECT_FROM}")
    repeats = {"room": 50, "union": 50, "all": 10}

    ours = run_sansio_rooms(args.n, repeats)
    theirs = run_python_socketio(args.n, repeats["room"], repeats["union"], repeats["all"])
    node = None if args.no_node else run_node(args.n, repeats)
    memory = {
        "sansio_rooms": bytes_per_membership_sansio_rooms(args.n),
        "python_socketio": bytes_per_membership_python_socketio(args.n),
    }
    if args.json:
        report = {"n": args.n, "sansio_rooms": ours, "python_socketio": theirs, "node": node}
        print(json.dumps({**report, "bytes_per_membership": memory}))
        return
    for op in OPS:
        node_ns = "n/a" if node is None else f"{node[op]:.1f}"
        print(
            f"op={op} sansio_rooms_ns={ours[op]:.1f} python_socketio_ns={theirs[op]:.1f} "
            f"ratio={ours[op] / theirs[op]:.4f} node_ns={node_ns}"
        )
    print(
        f"memory bytes_per_membership sansio_rooms={memory['sansio_rooms']:.1f} "
        f"python_socketio={memory['python_socketio']:.1f} "
        f"ratio={memory['sansio_rooms'] / memory['python_socketio']:.3f}"
    )


if __name__ == "__main__":
    main()
