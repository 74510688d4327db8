"""What connection state recovery costs: fan-out with it on and off, and memory per kept packet.

The server machine (``ServerMachine``, no network: what a binding's server asks of the core
per broadcast) with ``clients`` WebSocket clients, in two traffic shapes:

    room    every client in one room; each broadcast goes to the room, the sender excluded
    pairs   rooms of two clients; each broadcast goes to one pair, the sender excluded

Each round runs both shapes with recovery off, then on, on fresh machines, and the figures
are medians over the rounds: deliveries per second (a delivery: one recipient handed the
broadcast's frames), and the ratio on/off (1.0: recovery costs nothing). With recovery on,
every broadcast is kept in the namespace's log with its offset; ``memory`` is the growth of
the log per kept packet (tracemalloc): what the log allocates itself, and all the growth, with
the frames it keeps alive for the window (those that were sent).

This is a program that prints figures, never a test that fails on a slow machine.

Usage: python benchmarks/recovery.py [--clients 1000] [--broadcasts 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import time
import tracemalloc

from sansio_rooms import ConnectionStateRecovery, ServerMachine, WebSocketSend

PAYLOAD = {"text": "hello, room", "n": 0}


def machine(clients: int, recovery: bool) -> tuple[ServerMachine, list[str]]:
    """A server machine with ``clients`` connected WebSocket clients; their socket ids."""
    counter = itertools.count()
    server = ServerMachine(
        id_factory=lambda: f"e{next(counter)}",
        connection_state_recovery=ConnectionStateRecovery() if recovery else None,
    )
    sids = []
    for index in range(clients):
        server.websocket_connect(index, {"EIO": "4", "transport": "websocket"}, 0.0)
        (request,) = server.websocket_message(index, "40", 0.0)
        server.accept("/", request.sid)
        sids.append(request.sid)
    return server, sids


def fan_out(server: ServerMachine, sids: list[str], shape: str, broadcasts: int) -> float:
    """Deliveries per second of ``broadcasts`` broadcasts in ``shape``."""
    namespace = server.engine.namespace("/")
    if shape == "room":
        for sid in sids:
            namespace.join(sid, "bench")
        plan = [("bench", sids[i % len(sids)]) for i in range(broadcasts)]
    else:
        for index, sid in enumerate(sids):
            namespace.join(sid, f"pair{index // 2}")
        plan = [(f"pair{(i % len(sids)) // 2}", sids[i % len(sids)]) for i in range(broadcasts)]
    emit = server.emit
    delivered = 0
    gc.collect()
    start = time.perf_counter()
    for now, (room, sender) in enumerate(plan):
        for output in emit("/", "msg", PAYLOAD, rooms=room, sender=sender, now=float(now)):
            if type(output) is WebSocketSend:
                delivered += len(output.handles)
    elapsed = time.perf_counter() - start
    expected = broadcasts * (len(sids) - 1 if shape == "room" else 1)
    assert delivered == expected, (shape, delivered, expected)
    return delivered / elapsed


def bytes_per_packet(clients: int, broadcasts: int) -> tuple[float, float]:
    """Growth of the log per kept packet: (bookkeeping only, with the frames it holds)."""
    server, sids = machine(clients, recovery=True)
    namespace = server.engine.namespace("/")
    for index, sid in enumerate(sids):
        namespace.join(sid, f"pair{index // 2}")
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for now in range(broadcasts):
        room = f"pair{(now % len(sids)) // 2}"
        server.emit("/", "msg", {"text": "hello, room", "n": now}, rooms=room, now=float(now))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    store = server.recovery
    assert store is not None and store.packet_count("/") == broadcasts
    by_file = after.compare_to(before, "filename")
    total = sum(stat.size_diff for stat in by_file)
    # What the log itself allocates (its entries, their room sets, the deque's blocks); the
    # rest is the frames, made to be sent and kept alive by the log.
    log = sum(
        stat.size_diff for stat in by_file if stat.traceback[0].filename.endswith("_recovery.py")
    )
    return log / broadcasts, total / broadcasts


def bytes_per_session(clients: int) -> float:
    """Growth of the store per kept session, its data left out: each client in its id room and
    two rooms, dropped (its WebSocket closed)."""
    server, sids = machine(clients, recovery=True)
    namespace = server.engine.namespace("/")
    for index, sid in enumerate(sids):
        namespace.join(sid, ["lobby", f"pair{index // 2}"])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for index, sid in enumerate(sids):
        server.websocket_closed(index, 1.0)
        server.finish_disconnect("/", sid, data={"name": f"user{index}"}, now=1.0)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    store = server.recovery
    assert store is not None and store.session_count("/") == clients
    by_file = after.compare_to(before, "filename")
    # What the store allocates (the session, its rooms, its entry): the data is the
    # application's, kept alive by the store, and not counted.
    kept = sum(s.size_diff for s in by_file if s.traceback[0].filename.endswith("_recovery.py"))
    return kept / clients


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--broadcasts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    shapes = ("room", "pairs")
    runs: dict[tuple[str, bool], list[float]] = {(s, r): [] for s in shapes for r in (False, True)}
    for _ in range(args.rounds):
        for shape in shapes:
            for recovery in (False, True):
                server, sids = machine(args.clients, recovery)
                broadcasts = args.broadcasts if shape == "pairs" else args.broadcasts // 10
                runs[shape, recovery].append(fan_out(server, sids, shape, broadcasts))
    print(f"# clients={args.clients} rounds={args.rounds} (medians over the rounds)")
    for shape in shapes:
        off = statistics.median(runs[shape, False])
        on = statistics.median(runs[shape, True])
        ratios = [b / a for a, b in zip(runs[shape, False], runs[shape, True], strict=True)]
        print(
            f"workload={shape} recovery_off_deliveries_per_s={off:.0f} "
            f"recovery_on_deliveries_per_s={on:.0f} "
            f"ratio_on_off={statistics.median(ratios):.3f} "
            f"range={min(ratios):.3f}..{max(ratios):.3f}"
        )
    bookkeeping, with_frames = bytes_per_packet(args.clients, args.broadcasts)
    print(
        f"memory bytes_per_kept_packet={bookkeeping:.0f} with_its_frames={with_frames:.0f} "
        f"bytes_per_session={bytes_per_session(args.clients):.0f} (and its data)"
    )


if __name__ == "__main__":
    main()
