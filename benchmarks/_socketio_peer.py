"""Peer driver: python-socketio's in-memory ``Manager`` on the core room-engine workload.

Workload: bench README section 1. One namespace "/", ``n`` sockets; socket i joins "big" if
i < 10_000, "mid{i % 1000}" and "small{i // 5}" besides its own sid room.

The manager is driven without any I/O (reference notes on python-socketio, section 11 A): a
tiny stand-in server gives it ``eio.generate_id()``, ``packet_class`` and a
``_send_eio_packet`` stub that only counts deliveries (a plain method doing
``self.count += 1``, the same stub shape used for sansio-rooms). No ``MagicMock``.

Ids and room names are built before anything is measured (the "plan"), so build timing and
the memory figure cover only the manager calls and the state they keep alive.
"""

from __future__ import annotations

import gc
import itertools
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import socketio  # type: ignore[import-untyped]
from socketio.packet import Packet  # type: ignore[import-untyped]

NAMESPACE = "/"
BIG_SIZE = 10_000
MID_ROOMS = 1_000
SMALL_SIZE = 5
UNION_MIDS = 100  # union op: "big" + "mid0".."mid{UNION_MIDS - 1}"
UNION_EXCEPT = "mid5"
DISCONNECT_FROM = 90_000
PAYLOAD: dict[str, str] = {"msg": "hello"}

__all__ = ["bytes_per_membership_python_socketio", "run_python_socketio"]


class _StubEio:
    """Stands in for ``engineio.Server``: only ``generate_id`` is used by the Manager."""

    def __init__(self) -> None:
        self._ids: Iterator[int] = itertools.count()

    def generate_id(self) -> str:
        return f"s{next(self._ids)}"


class _StubServer:
    """The part of ``socketio.Server`` that ``socketio.Manager`` touches."""

    packet_class = Packet

    def __init__(self) -> None:
        self.eio = _StubEio()
        self.count = 0

    def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        self.count += 1

    def _send_packet(self, eio_sid: str, pkt: Any) -> None:  # only used with callbacks
        self.count += 1


def _plan(n: int) -> list[tuple[str, tuple[str, ...]]]:
    """Per socket i: its engine.io sid and the rooms it joins (besides its own sid room)."""
    plan: list[tuple[str, tuple[str, ...]]] = []
    for i in range(n):
        rooms: tuple[str, ...] = (f"mid{i % MID_ROOMS}", f"small{i // SMALL_SIZE}")
        if i < BIG_SIZE:
            rooms = ("big", *rooms)
        plan.append((f"e{i}", rooms))
    return plan


def _new_manager() -> tuple[Any, _StubServer]:
    server = _StubServer()
    mgr = socketio.Manager()
    mgr.set_server(server)
    return mgr, server


def _build(mgr: Any, plan: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Connect every socket and make every join. Returns the sids in socket order."""
    sids: list[str] = []
    append = sids.append
    connect = mgr.connect
    enter_room = mgr.enter_room
    ns = NAMESPACE
    for eio_sid, rooms in plan:
        sid = connect(eio_sid, ns)
        append(sid)
        for room in rooms:
            enter_room(sid, ns, room)
    return sids


def _union_expected(n: int) -> int:
    members = set(range(min(n, BIG_SIZE)))
    members.update(i for i in range(n) if i % MID_ROOMS < UNION_MIDS)
    skipped = {i for i in range(n) if f"mid{i % MID_ROOMS}" == UNION_EXCEPT}
    return len(members - skipped)


def run_python_socketio(
    n: int = 100_000,
    room_repeats: int = 50,
    union_repeats: int = 50,
    all_repeats: int = 10,
    disconnect_sample: int = 100,
) -> dict[str, float]:
    """Run the core workload on python-socketio's Manager; ns per unit for each op.

    Units: build = one connect or join call; room, union, all = one delivery;
    disconnect = one disconnect (``pre_disconnect`` then ``disconnect``, as the server does).
    """
    if n <= DISCONNECT_FROM:
        raise ValueError(f"n must be > {DISCONNECT_FROM} (disconnect starts at s{DISCONNECT_FROM})")
    disconnect_sample = min(disconnect_sample, n - DISCONNECT_FROM)
    plan = _plan(n)
    build_units = n + sum(len(rooms) for _, rooms in plan)
    mgr, server = _new_manager()
    results: dict[str, float] = {}

    # 1. build
    gc.collect()
    t0 = time.perf_counter_ns()
    sids = _build(mgr, plan)
    t1 = time.perf_counter_ns()
    results["build"] = (t1 - t0) / build_units
    assert len(mgr.rooms[NAMESPACE][None]) == n
    assert sids[0] == mgr.sid_from_eio_sid("e0", NAMESPACE)

    emit = mgr.emit

    # 2. room: "big", sender s0 excluded
    sender = sids[0]
    expected = min(n, BIG_SIZE) - 1
    server.count = 0
    gc.collect()
    t0 = time.perf_counter_ns()
    for _ in range(room_repeats):
        emit("ev", PAYLOAD, NAMESPACE, room="big", skip_sid=sender)
    t1 = time.perf_counter_ns()
    assert server.count == expected * room_repeats, (server.count, expected * room_repeats)
    results["room"] = (t1 - t0) / (expected * room_repeats)

    # 3. union: big + mid0..mid99, except mid5 (as a skip list of its member sids)
    union_rooms = ["big"] + [f"mid{k}" for k in range(UNION_MIDS)]
    skip = [sid for sid, _ in mgr.get_participants(NAMESPACE, UNION_EXCEPT)]
    expected = _union_expected(n)
    if n == 100_000:
        assert expected == 18_900
    server.count = 0
    gc.collect()
    t0 = time.perf_counter_ns()
    for _ in range(union_repeats):
        emit("ev", PAYLOAD, NAMESPACE, room=union_rooms, skip_sid=skip)
    t1 = time.perf_counter_ns()
    assert server.count == expected * union_repeats, (server.count, expected * union_repeats)
    results["union"] = (t1 - t0) / (expected * union_repeats)

    # 4. all: the whole namespace
    expected = n
    server.count = 0
    gc.collect()
    t0 = time.perf_counter_ns()
    for _ in range(all_repeats):
        emit("ev", PAYLOAD, NAMESPACE)
    t1 = time.perf_counter_ns()
    assert server.count == expected * all_repeats, (server.count, expected * all_repeats)
    results["all"] = (t1 - t0) / (expected * all_repeats)

    # 5. disconnect: a sample of sockets from s90000 upward, one by one
    leaving = sids[DISCONNECT_FROM : DISCONNECT_FROM + disconnect_sample]
    pre_disconnect = mgr.pre_disconnect
    disconnect = mgr.disconnect
    ns = NAMESPACE
    gc.collect()
    t0 = time.perf_counter_ns()
    for sid in leaving:
        pre_disconnect(sid, ns)
        disconnect(sid, ns)
    t1 = time.perf_counter_ns()
    results["disconnect"] = (t1 - t0) / len(leaving)
    assert len(mgr.rooms[NAMESPACE][None]) == n - len(leaving)
    assert not any(mgr.is_connected(sid, NAMESPACE) for sid in leaving)
    assert NAMESPACE not in mgr.pending_disconnect
    return results


def bytes_per_membership_python_socketio(n: int = 100_000) -> float:
    """Bytes kept alive by building the state, per membership.

    Memberships = n (each socket's own sid room) + the number of join calls. Engine.io sids
    and room-name strings are made before tracing starts; the manager, its stub server and
    everything the connects and joins keep alive (sids, bidicts, ...) are counted.
    """
    plan = _plan(n)
    memberships = n + sum(len(rooms) for _, rooms in plan)
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    mgr, _server = _new_manager()
    _build(mgr, plan)
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    if not was_tracing:
        tracemalloc.stop()
    assert len(mgr.rooms[NAMESPACE][None]) == n
    return (after - before) / memberships


if __name__ == "__main__":
    import json
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(run_python_socketio(size)))
    print(json.dumps({"bytes_per_membership": bytes_per_membership_python_socketio(size)}))
