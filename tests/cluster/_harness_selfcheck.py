"""A check of the mixed-cluster harness by hand (not a test): two Node peers and Node clients
on a Redis of its own, classic then sharded mode.

    .venv/bin/python tests/cluster/_harness_selfcheck.py [classic|sharded|none ...]

Needs ``node`` (with ``cd tests/cluster/node && npm ci``) and ``redis-server`` (>= 7 for
sharded) on the PATH. Prints one line per step and exits 1 on the first failure.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import HarnessError, NodeClients, NodePeer, Peer
from _redis import RedisServer


def step(text: str) -> None:
    print(f"  {text}", flush=True)


def expect(condition: bool, what: str, got: Any = None) -> None:
    if not condition:
        raise AssertionError(f"{what}: got {got!r}")


def names(sockets: list[dict[str, Any]]) -> list[str]:
    return [s["data"]["name"] for s in sockets]


def check(mode: str, redis: RedisServer) -> None:
    started = time.monotonic()
    # mode none: in-memory adapters; the Redis is only the emitter's
    p1 = NodePeer(0, redis.url, mode, "p1")
    p2 = NodePeer(0, redis.url, mode, "p2")
    clients = NodeClients()
    try:
        expect(isinstance(p1, Peer), "NodePeer satisfies Peer", p1)
        step(f"peers on ports {p1.port}, {p2.port}; info {p1.info()}")
        sid_a = clients.connect("a", p1.url, rooms=["room1", 42], ack_delay_ms=30)
        sid_b = clients.connect("b", p2.url, rooms=["room1"])
        clients.connect("h", p2.url, nsp="/chat")
        p1.wait_connection("a")
        p2.wait_connection("b")
        p2.wait_connection("h", nsp="/chat")
        step(f"clients a={sid_a} (p1), b={sid_b} (p2), h on p2/chat")

        count = p1.server_count()
        expect(count == (2 if mode != "none" else 1), "server_count", count)

        mark = clients.mark()
        p1.broadcast("hello", 1, b"\x01\x02", {"x": [1, None]})
        targets = "ab" if mode != "none" else "a"
        reached = {c: clients.wait_received(c, "hello", since=mark)[0]["args"] for c in targets}
        want = [1, b"\x01\x02", {"x": [1, None]}]
        if mode == "none":
            expect(reached["a"] == want, "broadcast reaches a", reached)
        else:
            expect(reached == {"a": want, "b": want}, "broadcast from p1 reaches a and b", reached)
        step(f"broadcast from p1: {reached}")

        mark = clients.mark()
        p2.broadcast("room-msg", "r", rooms="room1", except_=sid_b, flags={"volatile": True})
        if mode != "none":
            got = clients.wait_received("a", "room-msg", since=mark)[0]["args"]
            expect(got == ["r"], "room broadcast from p2 reaches a", got)
        p2.broadcast("marker", rooms=sid_b)
        clients.wait_received("b", "marker", since=mark)
        expect(
            not clients.events_matching({"client": "b", "name": "room-msg"}, since=mark),
            "b is excluded",
            clients.received("b"),
        )
        step("room broadcast with except")

        sockets = p1.fetch_sockets()
        if mode != "none":
            expect(names(sockets) == ["a", "b"], "fetch_sockets from p1 lists a and b", sockets)
            expect(
                sockets[0]["rooms"] == [42, *sorted(["room1", sid_a])],
                "rooms of a (sorted)",
                sockets[0],
            )
            expect(sockets[1]["handshake_auth"]["rooms"] == ["room1"], "auth of b", sockets[1])
        step(f"fetch_sockets: {[(s['data']['name'], s['rooms']) for s in sockets]}")

        if mode != "none":
            mark2 = p2.mark()
            ack = p1.server_side_emit_with_ack("ping-server", "p", b"\xff")
            expect(ack == {"responses": [{"from": "p2"}], "error": None}, "p2's answer", ack)
            seen = p2.wait_event({"event": "server_side"}, since=mark2)
            expect(seen["args"] == ["p", b"\xff"] or seen["args"][0] == "p", "p2 got it", seen)
            step(f"server_side_emit_with_ack: {ack}; p2 saw {seen}")

        acks = p1.broadcast_with_ack("ask", "q", timeout_ms=1000)
        responses = sorted(r["from"] for r in acks["responses"])
        expect(acks["error"] is None, "broadcast_with_ack without error", acks)
        expect(responses == (["a", "b"] if mode != "none" else ["a"]), "both acks", acks)
        step(f"broadcast_with_ack: {acks}")

        mark = clients.mark()
        p1.emitter("from-emitter", 7, b"\x00")
        if mode == "classic":
            got = {c: clients.wait_received(c, "from-emitter", since=mark)[0]["args"] for c in "ab"}
            expect(got == {"a": [7, b"\x00"], "b": [7, b"\x00"]}, "emitter reaches a and b", got)
            step(f"emitter: {got}")
        else:
            time.sleep(0.3)
            missed = clients.events_matching({"name": "from-emitter"}, since=mark)
            expect(missed == [], f"the (classic) emitter reaches no {mode} server", missed)
            step(f"emitter: nothing arrives in mode {mode}, as expected")

        answer = clients.emit("b", "join", "room9", ack=True)
        expect(answer == [True], "join ack", answer)
        mark = clients.mark()
        clients.emit(
            "a", "broadcast", {"rooms": ["room9"], "event": "relayed", "args": ["x"]}, ack=True
        )
        if mode != "none":
            got = clients.wait_received("b", "relayed", since=mark)[0]["args"]
            expect(got == ["x"], "client broadcast via p1 to room9 on p2", got)
            step("client join + client broadcast")

            p1.sockets_join("room10", rooms="room1")
            deadline = time.monotonic() + 3
            while "room10" not in p2.local_rooms().get(sid_b, []):
                expect(time.monotonic() < deadline, "sockets_join reaches p2", p2.local_rooms())
                time.sleep(0.02)
            step(f"sockets_join: p2 local rooms {p2.local_rooms()}")

            result = p1.remote_socket(sid_b, "emit", event="direct", args=[1])
            got = clients.wait_received("b", "direct")[0]["args"]
            expect(got == [1] and result == {"local": False}, "remote socket emit", (result, got))
            step("remote_socket emit")

        if mode == "classic":
            rooms = p1.all_rooms()
            expect({"room1", "room9", "room10", 42} <= set(rooms), "all_rooms", rooms)
            step(f"all_rooms: {rooms}")
        else:
            try:
                p1.all_rooms()
                raise AssertionError("all_rooms should fail")
            except HarnessError as error:
                step(f"all_rooms: error {error.message!r}")

        chat = p1.fetch_sockets(nsp="/chat")
        expect(names(chat) == (["h"] if mode != "none" else []), "fetch in /chat", chat)

        if mode != "none":
            mark = clients.mark()
            p1.disconnect_sockets(rooms="room9")
            reason = clients.wait_disconnect("b", since=mark)
            ev = p2.wait_event({"event": "disconnect", "name": "b"})
            step(f"disconnect_sockets: client reason {reason!r}, server reason {ev['reason']!r}")

        for peer in (p1, p2, clients):
            expect(peer.errors() == [], f"no error events from {peer.label}", peer.errors())
    finally:
        codes = [process.close() for process in (clients, p1, p2)]
    expect(codes == [0, 0, 0], "exit codes", codes)
    print(f"{mode}: ok in {time.monotonic() - started:.1f} s", flush=True)


def main(modes: list[str]) -> int:
    with RedisServer() as redis:
        version = ".".join(map(str, redis.version))
        print(f"redis-server {version} at {redis.url}", flush=True)
        for mode in modes:
            print(f"{mode}:", flush=True)
            try:
                check(mode, redis)
            except (AssertionError, HarnessError) as error:
                print(f"{mode}: FAILED: {error}", flush=True)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["classic", "sharded"]))
