"""Connection state recovery across a cluster on the Redis Streams adapter, with the official
JavaScript client (socket.io-client 4.8): a client whose WebSocket is cut comes back to
*another* server within the window and gets its session there (the same id, its rooms, its
data, exactly the broadcasts to its rooms it missed, in order, before the CONNECT reply);
past the window it gets a new session.

Servers: this project's (``_streams_server.py``, on either binding) and Node's
(``node/streams_server.cjs``: socket.io 4.8 with ``@socket.io/redis-streams-adapter`` 0.3.1),
in every direction; clients: ``node/recovery_clients.cjs``. Each test has its own
``redis-server``.

Node's streams adapter replays volatile broadcasts too (its restore keeps every BROADCAST
entry of the stream whose rooms match, and a volatile one is in the stream like any other).
This project's servers leave them out, as one server does (and Node's in-memory adapter):
``volatile`` is among the missed events only when the client comes back to a Node server.
Broadcasts that expect acknowledgements go over pub/sub and are not replayed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _harness import NODE_DIR, JsonLineProcess, _node_executable
from _redis import RedisServer

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
WINDOW = 2.0
OFFSET = re.compile(r"[0-9]+-[0-9]+")

#: (the server the client leaves, the server it comes back to)
PAIRS = [("asyncio", "trio"), ("trio", "asyncio"), ("asyncio", "node"), ("node", "trio")]


def until(condition: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_server(stack: contextlib.ExitStack, kind: str, redis_url: str) -> tuple[Any, str]:
    """A server of ``kind`` (``asyncio``, ``trio`` or ``node``), ready; and its URL."""
    options = ["--redis", redis_url, "--window", str(WINDOW)]
    if kind == "node":
        args = [_node_executable(), str(NODE_DIR / "streams_server.cjs"), *options]
        process = JsonLineProcess(args, label="node streams server", cwd=NODE_DIR)
    else:
        script = str(HERE / "_streams_server.py")
        args = [sys.executable, script, "--binding", kind, *options]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = JsonLineProcess(args, label=f"{kind} streams server", cwd=ROOT, env=env)
    stack.enter_context(process)
    port = process.wait_event({"event": "ready"}, timeout=15)["port"]
    return process, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def cluster(redis: RedisServer, first: str, second: str) -> Iterator[tuple[Any, ...]]:
    """Two servers and the clients' process."""
    with contextlib.ExitStack() as stack:
        one, url1 = start_server(stack, first, redis.url)
        two, url2 = start_server(stack, second, redis.url)
        clients = JsonLineProcess(
            [_node_executable(), str(NODE_DIR / "recovery_clients.cjs")],
            label="recovery clients",
            cwd=NODE_DIR,
        )
        stack.enter_context(clients)
        clients.wait_event({"event": "ready"}, timeout=10)
        yield one, url1, two, url2, clients
        for process in (one, two, clients):
            assert process.errors() == [], process.stderr[-2000:]


def received(clients: Any, name: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = clients.call("received", name=name)
    return result


def wait_received(clients: Any, name: str, event: str) -> dict[str, Any]:
    return until(
        lambda: next((r for r in received(clients, name) if r["event"] == event), None),
        f"{name} to receive {event}",
    )


def dropped(redis: RedisServer, one: Any, url1: str, clients: Any) -> dict[str, Any]:
    """Client ``a`` connected to the first server in rooms r1 and r2, with an offset (one
    broadcast received), then cut off; its session is in Redis."""
    a = clients.call("connect", name="a", url=url1, auth={"name": "a", "rooms": ["r1", "r2"]})
    assert a["recovered"] is False
    one.call("broadcast", rooms=["r1"], event="before", args=[0])
    before = wait_received(clients, "a", "before")
    assert before["args"][0] == 0 and OFFSET.fullmatch(before["args"][1])
    mark = one.mark()
    clients.call("drop", name="a")
    gone = one.wait_event({"event": "disconnect", "sid": a["sid"]}, since=mark)
    assert gone["reason"] == "transport close"
    until(lambda: redis.command("KEYS", "sio:session:*"), "the session in Redis")
    return a  # type: ignore[no-any-return]


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_a_client_recovers_on_another_server(
    redis_server: RedisServer, first: str, second: str
) -> None:
    with cluster(redis_server, first, second) as (one, url1, two, url2, clients):
        b = clients.call("connect", name="b", url=url2, auth={"name": "b", "rooms": ["r3"]})
        assert b["recovered"] is False
        a = dropped(redis_server, one, url1, clients)
        length = redis_server.command("XLEN", "socket.io")
        # While a is away: three broadcasts to its rooms, from either server, one to a room it
        # is not in, one volatile (replayed by a Node server only), one with acks (pub/sub:
        # not kept).
        two.call("broadcast", rooms=["r1"], event="one", args=[1])
        two.call("broadcast", rooms=["r3"], event="not-mine", args=[0])
        two.call("broadcast", rooms=["r1"], event="volatile", args=[0], volatile=True)
        acked = two.call("broadcast_with_ack", rooms=["r2"], event="acked", timeout_ms=500)
        assert acked["responses"] == []
        one.call("broadcast", rooms=["r2", "r3"], event="two", args=[2])
        two.call("broadcast", event="three", args=[3])
        until(
            lambda: redis_server.command("XLEN", "socket.io") == length + 5,
            "the broadcasts in the stream",
        )
        seen = len(received(clients, "a"))
        mark = two.mark()
        back = clients.call("reconnect", name="a", url=url2)
        assert back == {"sid": a["sid"], "recovered": True}
        connection = two.wait_event({"event": "connection", "sid": a["sid"]}, since=mark)
        assert connection["recovered"] is True
        assert connection["rooms"] == ["r1", "r2"] and connection["in_own_room"] is True
        assert connection["data"] == {"name": "a"}
        # Exactly what it missed, in stream order, each with its entry id as its offset, all
        # before the CONNECT reply (the client had them when it was told it is connected).
        missed = received(clients, "a")[seen:]
        volatile = [("volatile", 0)] if second == "node" else []
        assert [(r["event"], r["args"][0]) for r in missed] == [
            ("one", 1),
            *volatile,
            ("two", 2),
            ("three", 3),
        ]
        offsets = [r["args"][1] for r in missed]
        assert all(OFFSET.fullmatch(offset) for offset in offsets)
        order = [tuple(map(int, offset.split("-"))) for offset in offsets]
        assert order == sorted(order) and len(set(order)) == len(missed)
        assert redis_server.command("KEYS", "sio:session:*") == []  # taken
        # A member of its rooms again, on its new server: broadcasts from either reach it.
        one.call("broadcast", rooms=["r1"], event="after", args=[4])
        assert wait_received(clients, "a", "after")["args"][0] == 4
        two.call("broadcast", rooms=["r2"], event="after-2", args=[5])
        assert wait_received(clients, "a", "after-2")["args"][0] == 5
        assert [r["event"] for r in received(clients, "b")] == ["not-mine", "two", "three"]


@pytest.mark.parametrize(
    ("first", "second"), [("trio", "asyncio"), ("node", "asyncio"), ("asyncio", "node")]
)
def test_past_the_window_a_new_session(redis_server: RedisServer, first: str, second: str) -> None:
    with cluster(redis_server, first, second) as (one, url1, two, url2, clients):
        a = dropped(redis_server, one, url1, clients)
        two.call("broadcast", rooms=["r1"], event="one", args=[1])
        time.sleep(WINDOW + 0.5)  # time passing is the point here
        seen = len(received(clients, "a"))
        mark = two.mark()
        back = clients.call("reconnect", name="a", url=url2)
        assert back["recovered"] is False and back["sid"] != a["sid"]
        connection = two.wait_event({"event": "connection", "sid": back["sid"]}, since=mark)
        assert connection["recovered"] is False
        assert received(clients, "a")[seen:] == []
