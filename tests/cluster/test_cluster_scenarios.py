"""Mixed clusters of real processes: this project's servers (asyncio, trio) and Node's.

Every process is real: a ``redis-server`` of the cluster's own, peer processes (``_py_peer.py``
on either binding, ``node/peer.mjs`` with ``@socket.io/redis-adapter`` 8.3) and one
``node/clients.mjs`` with socket.io-client 4.8 clients over WebSocket. Nothing is mocked.

Each topology runs in the classic (PUBLISH/PSUBSCRIBE) and in the sharded (SPUBLISH, dynamic
subscriptions) mode. One cluster (Redis, peers, clients process) serves every scenario of its
topology and mode (``cluster``, a module-scoped fixture): a scenario connects clients of its
own and disconnects them at the end (waiting until every peer saw them go), which is all the
state a scenario leaves on the servers; it also fails if a process reported an ``error``.

"Exactly once" is checked with markers: after a scenario's emits, every peer broadcasts a
marker to both namespaces, and the receipts are read once every client has every marker. A
client always gets at least one marker through its server's Redis subscription (from another
peer), Redis delivers a subscriber's messages in the order it executed the publishes, and a
server handles them in that order, so whatever the scenario published (and a duplicate of it)
has arrived by then.

The Redis restart (``test_redis_restart_mid_stream``) has a cluster of its own: it kills Redis.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from _harness import HarnessError, JsonLineProcess, NodeClients, NodePeer, PythonPeer, to_wire
from _redis import RedisServer, RedisServerMissing

NSPS = ("/", "/chat")
MARKER = "__marker"
ACK_TIMEOUT_MS = 1000  # the silent client's wait; the others answer at once

# topology name -> the peers, in order: "node" or a Python binding
TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "asyncio+trio": ("asyncio", "trio"),
    "asyncio+trio+asyncio": ("asyncio", "trio", "asyncio"),
    "node+asyncio": ("node", "asyncio"),
    "trio+node": ("trio", "node"),
}
MODES = ("classic", "sharded")

Receipt = tuple[str, str, bool]  # event name, its args as JSON, with_ack


def _start_redis() -> RedisServer:
    try:
        server = RedisServer()
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    server.require_version((7,))
    return server


def _start_peer(kind: str, index: int, redis_url: str, mode: str) -> Any:
    name = f"p{index}-{kind}"
    if kind == "node":
        return NodePeer(0, redis_url, mode, name)
    return PythonPeer(kind, 0, redis_url, mode, name)


@dataclass
class Client:
    name: str
    peer: int
    nsp: str
    sid: str


@dataclass
class Cluster:
    """A running cluster and what the current scenario connected to it."""

    topology: str
    mode: str
    redis: RedisServer
    peers: list[Any]
    clients: NodeClients
    connected: list[Client] = field(default_factory=list)
    marks: dict[int, int] = field(default_factory=dict)
    _tokens: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def processes(self) -> list[JsonLineProcess]:
        return [*self.peers, self.clients]

    def kinds(self) -> list[str]:
        return [("node" if isinstance(p, NodePeer) else p.binding) for p in self.peers]

    def python_peers(self) -> list[int]:
        return [i for i, kind in enumerate(self.kinds()) if kind != "node"]

    def node_peers(self) -> list[int]:
        return [i for i, kind in enumerate(self.kinds()) if kind == "node"]

    # -- a scenario's clients

    def connect(
        self,
        name: str,
        peer: int,
        *,
        rooms: Sequence[str | int] = (),
        nsp: str = "/",
        silent: bool = False,
    ) -> str:
        """A client on ``peers[peer]``, in ``rooms``; returns once the peer reported the
        connection (its subscriptions settled)."""
        server = self.peers[peer]
        since = server.mark()
        sid = self.clients.connect(name, server.url, nsp=nsp, rooms=list(rooms), silent=silent)
        server.wait_event({"event": "connection", "sid": sid, "nsp": nsp}, since=since)
        self.connected.append(Client(name, peer, nsp, sid))
        return sid

    def client(self, name: str) -> Client:
        return next(c for c in self.connected if c.name == name)

    def begin(self) -> None:
        self.connected = []
        self.marks = {id(p): p.mark() for p in self.processes}

    def errors(self) -> list[str]:
        found = []
        for process in self.processes:
            for event in process.events_matching({"event": "error"}, since=self.marks[id(process)]):
                found.append(f"{process.label}: {event['message']}")
        return found

    def end(self) -> None:
        """Disconnect this scenario's clients; return once every peer saw them go."""
        status = self.clients.status()
        leaving = [c for c in self.connected if status.get(c.name, {}).get("connected")]
        for client in leaving:
            self.clients.disconnect(client.name)
        reasons = {}
        for client in self.connected:
            gone = self.peers[client.peer].wait_event(
                {"event": "disconnect", "sid": client.sid, "nsp": client.nsp},
                since=self.marks[id(self.peers[client.peer])],
            )
            reasons[client.name] = gone["reason"]
        self.clients.clear()
        self.connected = []
        # every kind of server names a client's own disconnect the same
        assert {reasons[c.name] for c in leaving} <= {"client namespace disconnect"}, reasons

    # -- receipts

    def receipts(self, names: Sequence[str] | None = None) -> dict[str, list[Receipt]]:
        """What each client (``names``, default: this scenario's connected ones) received
        since the last call, sorted, once every peer's marker reached it; then forgets it."""
        clients = [c for c in self.connected if names is None or c.name in names]
        status = self.clients.status()
        clients = [c for c in clients if status.get(c.name, {}).get("connected")]
        token = next(self._tokens)
        since = self.clients.mark()
        for peer in self.peers:
            for nsp in NSPS:
                peer.broadcast(MARKER, token, nsp=nsp)
        for c in clients:
            wanted = {"event": "received", "client": c.name, "name": MARKER, "args": [token]}
            self.clients.wait_events(wanted, len(self.peers), since=since)
        got = {}
        for c in clients:
            records = self.clients.received(c.name)
            got[c.name] = sorted(
                (r["event"], json.dumps(to_wire(r["args"]), sort_keys=True), r["with_ack"])
                for r in records
                if r["event"] != MARKER
            )
        self.clients.clear()
        return got

    def close(self) -> None:
        """Quit every process (each must exit 0 by itself), then kill Redis."""
        try:
            with ThreadPoolExecutor(len(self.processes)) as pool:
                codes = list(pool.map(lambda p: p.close(), self.processes))
        finally:
            self.redis.kill()
        exits = {p.label: code for p, code in zip(self.processes, codes, strict=True)}
        assert set(exits.values()) == {0}, exits


def receipt(event: str, *args: Any, with_ack: bool = False) -> Receipt:
    return (event, json.dumps(to_wire(list(args)), sort_keys=True), with_ack)


def expect(names: Sequence[str], per_client: dict[str, list[Receipt]]) -> dict[str, list[Receipt]]:
    """``{name: sorted receipts}`` for every name (nothing for those not in ``per_client``)."""
    return {name: sorted(per_client.get(name, [])) for name in names}


def start_cluster(kinds: Sequence[str], mode: str, topology: str = "") -> Cluster:
    redis = _start_redis()
    started: list[Any] = []
    try:
        with ThreadPoolExecutor(len(kinds) + 1) as pool:
            futures = [
                pool.submit(_start_peer, kind, i, redis.url, mode) for i, kind in enumerate(kinds)
            ]
            clients_future = pool.submit(NodeClients)
            for future in [*futures, clients_future]:
                with contextlib.suppress(Exception):
                    started.append(future.result())
            peers = [f.result() for f in futures]  # raises the first failure
            clients = clients_future.result()
    except BaseException:
        for process in started:
            process.close()
        redis.kill()
        raise
    cluster = Cluster(topology or "+".join(kinds), mode, redis, peers, clients)
    try:
        for peer in peers:
            assert peer.server_count() == len(peers), f"{peer.label} does not count every server"
    except BaseException:
        with contextlib.suppress(AssertionError):
            cluster.close()
        raise
    return cluster


@pytest.fixture(
    scope="module",
    params=[(t, m) for t in TOPOLOGIES for m in MODES],
    ids=[f"{t}-{m}" for t in TOPOLOGIES for m in MODES],
)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    topology, mode = request.param
    started = start_cluster(TOPOLOGIES[topology], mode, topology)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def scenario(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, clean for one scenario: its clients are gone afterwards, and a scenario
    that made a process report an ``error`` fails."""
    cluster.begin()
    yield cluster
    cluster.end()
    assert cluster.errors() == []


# ---------------------------------------------------------------------------------------------
# a. a union broadcast from each peer in turn


def test_union_broadcast_reaches_every_client_once(scenario: Cluster) -> None:
    c = scenario
    n = len(c.peers)
    # Clients in both rooms on every server, in one room only on the first and the last, and
    # some that must get nothing: another room, and the same rooms in the other namespace.
    for i in range(n):
        c.connect(f"both{i}", i, rooms=["r1", "r2"])
        c.connect(f"out{i}", i, rooms=["r3"])
    c.connect("only1", 0, rooms=["r1"])
    c.connect("only2", n - 1, rooms=["r2"])
    c.connect("chat", 1, rooms=["r1", "r2"], nsp="/chat")

    for i, peer in enumerate(c.peers):
        peer.broadcast("union", i, "ü", b"\x00\xff", rooms=["r1", "r2"])

    every = [receipt("union", i, "ü", b"\x00\xff") for i in range(n)]
    wanted = {name: every for name in ["only1", "only2", *(f"both{i}" for i in range(n))]}
    names = [cl.name for cl in c.connected]
    assert c.receipts() == expect(names, wanted)


# ---------------------------------------------------------------------------------------------
# b. except and the sender's exclusion, across nodes


def test_client_broadcast_with_except_leaves_out_the_sender_and_the_excluded(
    scenario: Cluster,
) -> None:
    c = scenario
    n = len(c.peers)
    for i in range(n):
        c.connect(f"send{i}", i, rooms=["news"])
        c.connect(f"reader{i}", i, rooms=["news"])
        c.connect(f"vip{i}", i, rooms=["news", "vip"])
    c.connect("elsewhere", n - 1, rooms=["other"])
    # one reader excluded by its socket id, on another server than most senders
    hidden = c.client(f"reader{n - 1}").sid

    for i in range(n):
        spec = {"rooms": ["news"], "except": ["vip", hidden], "event": "news", "args": [i]}
        assert c.clients.emit(f"send{i}", "broadcast", spec, ack=True) == [True]
    got = c.receipts()
    wanted: dict[str, list[Receipt]] = {}
    for i in range(n):
        wanted[f"send{i}"] = [receipt("news", j) for j in range(n) if j != i]
        wanted[f"reader{i}"] = [receipt("news", j) for j in range(n)]
    wanted[f"reader{n - 1}"] = []
    assert got == expect([cl.name for cl in c.connected], wanted)

    # No rooms: the whole namespace (Node's socket.to([])), still without sender and "vip".
    spec = {"rooms": [], "except": ["vip"], "event": "all", "args": []}
    assert c.clients.emit("send0", "broadcast", spec, ack=True) == [True]
    got = c.receipts()
    wanted = {name: [receipt("all")] for name in ("elsewhere", *(f"reader{i}" for i in range(n)))}
    wanted.update({f"send{i}": [receipt("all")] for i in range(1, n)})
    assert got == expect([cl.name for cl in c.connected], wanted)


# ---------------------------------------------------------------------------------------------
# c. a broadcast with acks, aggregated across nodes


def ask_all(c: Cluster, *, timeout_ms: int) -> list[dict[str, Any]]:
    """Every peer asks the members of "acks" at the same time (``ask`` with its index)."""
    with ThreadPoolExecutor(len(c.peers)) as pool:
        return list(
            pool.map(
                lambda i: c.peers[i].broadcast_with_ack(
                    "ask", i, rooms="acks", timeout_ms=timeout_ms
                ),
                range(len(c.peers)),
            )
        )


def test_broadcast_with_ack_aggregates_every_node(scenario: Cluster) -> None:
    c = scenario
    n = len(c.peers)
    for i in range(n):
        c.connect(f"k{i}", i, rooms=["acks"])
    c.connect("mute", 1, rooms=["acks"], silent=True)
    c.connect("nope", 0, rooms=["elsewhere"])
    answering = sorted(f"k{i}" for i in range(n))

    # every server asks at once: the timeout is waited for once
    results = ask_all(c, timeout_ms=ACK_TIMEOUT_MS)
    for asker, result in enumerate(results):
        assert result["error"] == "operation has timed out", (asker, result)
        assert sorted(r["from"] for r in result["responses"]) == answering, (asker, result)
    each = [receipt("ask", a, with_ack=True) for a in range(n)]
    wanted = {name: each for name in [*answering, "mute"]}
    assert c.receipts() == expect([cl.name for cl in c.connected], wanted)

    c.clients.disconnect("mute")
    c.peers[1].wait_event({"event": "disconnect", "sid": c.client("mute").sid})
    for asker, result in enumerate(ask_all(c, timeout_ms=5000)):
        assert result["error"] is None, (asker, result)
        assert sorted(r["from"] for r in result["responses"]) == answering, (asker, result)
    wanted = {name: each for name in answering}
    assert c.receipts() == expect([*answering, "nope"], wanted)


# ---------------------------------------------------------------------------------------------
# d. fetch_sockets, sockets_join/leave, a remote socket, disconnect_sockets


def test_fetch_join_and_disconnect_sockets_across_nodes(scenario: Cluster) -> None:
    c = scenario
    n = len(c.peers)
    for i in range(n):
        c.connect(f"f{i}", i, rooms=["fs", 7])
        c.connect(f"g{i}", i, rooms=["gs"])
    members = [c.client(f"f{i}") for i in range(n)]

    def described(client: Client) -> dict[str, Any]:
        return {
            "id": client.sid,
            "rooms": [7, *sorted([client.sid, "fs"])],  # numbers first, then strings
            "data": {"name": client.name},
            "handshake_auth": {"name": client.name, "rooms": ["fs", 7]},
        }

    for peer in c.peers:
        assert peer.fetch_sockets(rooms="fs") == [described(m) for m in members]
        assert [s["id"] for s in peer.fetch_sockets(rooms=7, except_="gs")] == [
            m.sid for m in members
        ]

    # every member of "fs" joins "joined", from the last server; the first one's leaves again
    c.peers[-1].sockets_join("joined", rooms="fs")
    c.peers[0].sockets_leave("joined", rooms="fs", except_=members[1].sid)
    # published: a round of markers makes sure that every server has handled them too
    assert c.receipts() == expect([cl.name for cl in c.connected], {})
    for i, peer in enumerate(c.peers):
        rooms = peer.local_rooms()
        for m in members:
            if m.peer == i:
                expected = ["fs", "joined"] if m is members[1] else ["fs"]
                assert rooms[m.sid] == [7, *sorted([m.sid, *expected])]
        for cl in c.connected:
            if cl.peer == i and cl.name.startswith("g"):
                assert rooms[cl.sid] == sorted([cl.sid, "gs"])
    c.peers[0].broadcast("to-joined", rooms="joined")

    # a socket of another server, through fetch_sockets: a RemoteSocket there
    target = members[1]
    outcome = c.peers[0].remote_socket(target.sid, "emit", event="direct", args=["hi"])
    assert outcome == {"local": False}
    assert c.receipts() == expect(
        [cl.name for cl in c.connected],
        {target.name: [receipt("to-joined"), receipt("direct", "hi")]},
    )

    since = c.clients.mark()
    c.peers[1].disconnect_sockets(rooms="fs")
    for m in members:
        reason = c.clients.wait_disconnect(m.name, since=since)
        assert reason == "io server disconnect"
        gone = c.peers[m.peer].wait_event({"event": "disconnect", "sid": m.sid})
        assert gone["reason"] == "server namespace disconnect"
    status = c.clients.status()
    assert [name for name, s in sorted(status.items()) if s["connected"]] == sorted(
        f"g{i}" for i in range(n)
    )
    for peer in c.peers:
        assert peer.fetch_sockets(rooms="fs") == []
        assert len(peer.fetch_sockets()) == n


# ---------------------------------------------------------------------------------------------
# e. server-side emits, with and without acks


def test_server_side_emit_with_ack_each_peer_asks_the_others_answer(scenario: Cluster) -> None:
    c = scenario
    names = [p.name for p in c.peers]
    marks = [p.mark() for p in c.peers]
    for asker, peer in enumerate(c.peers):
        result = peer.server_side_emit_with_ack("ping-server", asker, {"k": [1]})
        assert result["error"] is None, result
        assert sorted(result["responses"], key=lambda r: r["from"]) == [
            {"from": name} for name in names if name != peer.name
        ]

    # without acks, in the other namespace
    c.peers[0].server_side_emit("ping-server", "no-ack", nsp="/chat")
    # then a last one from every server: Redis hands it to each server after everything
    # published before (a copy of an earlier event included), and each peer reports its
    # events in the order it handles them
    for i, peer in enumerate(c.peers):
        peer.server_side_emit("ping-server", "barrier", i)
    for other, p in enumerate(c.peers):
        for i in range(len(c.peers)):
            if i != other:
                p.wait_event({"event": "server_side", "args": ["barrier", i]}, since=marks[other])

    for other, p in enumerate(c.peers):
        seen = [
            (e["nsp"], e["name"], e["args"], e["with_ack"])
            for e in p.events_matching({"event": "server_side"}, since=marks[other])
        ]
        acked = [("/", "ping-server", [a, {"k": [1]}], True) for a in range(len(c.peers))]
        barriers = [("/", "ping-server", ["barrier", i], False) for i in range(len(c.peers))]
        want = [
            *(e for a, e in enumerate(acked) if a != other),
            *([] if other == 0 else [("/chat", "ping-server", ["no-ack"], False)]),
            *(e for i, e in enumerate(barriers) if i != other),
        ]
        # the askers asked one after the other; the barriers may come in any order
        assert seen[: len(want) - len(c.peers) + 1] == want[: len(want) - len(c.peers) + 1]
        assert sorted(map(repr, seen)) == sorted(map(repr, want)), p.label


# ---------------------------------------------------------------------------------------------
# f. emitters: Node's reaches our servers, ours reaches Node's


def test_emitters_reach_every_server(scenario: Cluster) -> None:
    c = scenario
    n = len(c.peers)
    for i in range(n):
        c.connect(f"e{i}", i, rooms=["em"])
        c.connect(f"x{i}", i, rooms=["em", "skip"])
    c.connect("chat", 0, rooms=["em"], nsp="/chat")
    in_em = [f"e{i}" for i in range(n)]

    for node in c.node_peers():
        if c.mode == "classic":
            c.peers[node].emitter("node-emitter", node, rooms="em", except_="skip")
        else:
            with pytest.raises(HarnessError) as raised:
                c.peers[node].emitter("node-emitter", node, rooms="em", mode="sharded")
            assert raised.value.message == (
                "@socket.io/redis-emitter 5.1.0 has no sharded mode (classic PUBLISH only)"
            )
            # its classic PUBLISH is not what sharded servers listen to: nothing arrives
            c.peers[node].emitter("lost", rooms="em")
    for py in c.python_peers():
        c.peers[py].emitter("py-emitter", py, rooms="em", except_="skip", mode=c.mode)
        c.peers[py].emitter("py-emitter-chat", py, nsp="/chat", mode=c.mode)

    per_client = [receipt("py-emitter", py) for py in c.python_peers()]
    if c.mode == "classic":
        per_client += [receipt("node-emitter", node) for node in c.node_peers()]
    wanted = {name: per_client for name in in_em}
    wanted["chat"] = [receipt("py-emitter-chat", py) for py in c.python_peers()]
    assert c.receipts() == expect([cl.name for cl in c.connected], wanted)

    # server-side events from our emitter reach every server, without an ack
    py = c.python_peers()[0]
    marks = [p.mark() for p in c.peers]
    c.peers[py].emitter_server_side_emit("ping-server", "from-emitter", mode=c.mode)
    for i, p in enumerate(c.peers):
        seen = p.wait_event({"event": "server_side"}, since=marks[i])
        assert (seen["args"], seen["with_ack"]) == (["from-emitter"], False)


# ---------------------------------------------------------------------------------------------
# this project's to([]) selects nobody: on the other servers too


def test_an_empty_room_list_selects_nobody_on_any_server(redis_server: RedisServer) -> None:
    """A server of ours in the same process as the test, with a Node server and its client:
    ``to([])`` (an explicit empty list) reaches nobody here, and must not turn into
    ``"rooms": []`` on the wire, which the other servers read as "every socket"."""
    import asyncio

    from sansio_rooms_asyncio import AsyncServer, RedisAdapter

    with NodePeer(0, redis_server.url, "classic", "node") as node, NodeClients() as clients:
        clients.connect("c1", node.url)

        async def main() -> None:
            adapter = RedisAdapter(redis_server.url)
            server = AsyncServer(adapter=adapter)
            await server.start()
            try:
                assert await server.server_count() == 2
                nobody = server.to([])
                await nobody.emit("nobody", 1)
                await nobody.sockets_join("joined")
                await nobody.disconnect_sockets()
                assert await nobody.fetch_sockets() == []
                await server.emit("everybody", 2)  # no rooms: the whole namespace
                await adapter.flush()
            finally:
                await server.shutdown()

        asyncio.run(main())
        since = clients.mark()
        node.broadcast(MARKER)  # published after ours: Node's subscriber had ours first
        clients.wait_received("c1", MARKER, since=since)
        assert [(r["event"], r["args"]) for r in clients.received("c1")] == [
            ("everybody", [2]),
            (MARKER, []),
        ]
        assert clients.status()["c1"]["connected"]
        assert list(node.local_rooms().values()) == [[clients.status()["c1"]["sid"]]]


# ---------------------------------------------------------------------------------------------
# g. Redis restarts while a peer broadcasts


@dataclass
class Ticker:
    """Sends ``broadcast("tick", n)`` to ``peer`` every ``period`` seconds, in a thread,
    without waiting for the replies (the peer runs commands concurrently)."""

    peer: Any
    room: str
    period: float = 0.02
    sent: dict[int, float] = field(default_factory=dict)  # tick -> time it was sent
    pending: dict[int, Any] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sent[n] = time.monotonic()
            self.pending[n] = self.peer.send(
                "broadcast",
                nsp="/",
                rooms=[self.room],
                event="tick",
                args=[n],
                flags={},
                **{"except": []},
            )
            n += 1
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def last(self) -> int:
        return max(self.sent) if self.sent else -1

    def stop(self) -> dict[str, int]:
        """Stops; waits for every reply; counts the outcomes."""
        self._stop.set()
        assert self._thread is not None
        self._thread.join(5)
        outcomes = {"ok": 0, "error": 0}
        for pending in self.pending.values():
            assert pending.done.wait(25), "a broadcast command got no reply"
            outcomes["error" if pending.error is not None else "ok"] += 1
        return outcomes


def _ticks(records: list[dict[str, Any]]) -> list[int]:
    return [r["args"][0] for r in records if r["event"] == "tick"]


def error_counts(c: Cluster) -> str:
    """How many ``error`` events each process wrote, and the first words of the kinds."""
    counts: dict[str, int] = {}
    for text in c.errors():
        label, _, message = text.partition(": ")
        kind = " ".join(message.split()[:6])
        key = f"{label}: {kind}"
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{n} x [{key}...]" for key, n in sorted(counts.items())) or "none"


@pytest.mark.parametrize("mode", MODES)
def test_redis_restart_mid_stream(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    c = start_cluster(["asyncio", "trio"], mode)
    ticker = None
    try:
        c.begin()
        c.connect("local", 0, rooms=["tick"])  # on the broadcasting server (asyncio)
        c.connect("remote", 1, rooms=["tick"])  # on the other one (trio)
        ticker = Ticker(c.peers[0], "tick")
        ticker.start()
        c.clients.wait_received("remote", "tick", count=10)

        killed_at = time.monotonic()
        c.redis.kill()
        last_before = ticker.last()
        time.sleep(1.0)  # Redis is down for a second
        last_while_down = ticker.last()
        c.redis.restart()
        restarted_at = time.monotonic()
        first_after = ticker.last() + 1

        def got_after(name: str) -> Callable[[dict[str, Any]], bool]:
            return lambda e: (
                e["event"] == "received"
                and e["client"] == name
                and e["name"] == "tick"
                and e["args"][0] >= first_after
            )

        for name in ("local", "remote"):
            c.clients.wait_event(got_after(name), timeout=5.0 - (time.monotonic() - restarted_at))
        flowing_after = time.monotonic() - restarted_at
        time.sleep(0.2)
        outcomes = ticker.stop()
        last_tick = ticker.last()

        # the servers are whole again: both count each other (within the bound the flow had:
        # each server's subscriber reconnects on its own backoff, and the ticks flowing to
        # the remote client only say that the trio server's is back), and the other
        # direction flows too
        for peer in c.peers:
            while peer.server_count() != 2 and time.monotonic() < restarted_at + 5.0:
                time.sleep(0.05)
            assert peer.server_count() == 2, f"{peer.label} counts the servers 5 s after"
        c.peers[1].broadcast("back", rooms="tick")
        received = c.receipts()
        local, remote = (
            [json.loads(args)[0] for event, args, _ in received[name] if event == "tick"]
            for name in ("local", "remote")
        )
        assert ("back", "[]", False) in received["local"]

        # what was lost: every tick reached the local client once (no Redis in the way) and
        # the remote one at most once; the remote one missed ticks around the outage only,
        # and none of those sent while Redis was down (none was replayed later)
        every = list(range(last_tick + 1))
        assert sorted(local) == every
        assert len(remote) == len(set(remote))
        missed = sorted(set(every) - set(remote))
        while_down = [t for t in every if killed_at + 0.1 < ticker.sent[t] < restarted_at]
        assert while_down and set(while_down) <= set(missed)
        lost_window = (ticker.sent[missed[0]], ticker.sent[missed[-1]]) if missed else (0, 0)
        assert killed_at - 0.5 < lost_window[0] and lost_window[1] < restarted_at + 5.0
        recovered = min(t for t in remote if t >= first_after)
        assert all(t in remote for t in range(recovered, last_tick + 1))

        with capsys.disabled():
            print(
                f"\n[redis restart, {mode}] ticks sent {last_tick + 1} "
                f"(replies ok {outcomes['ok']}, error {outcomes['error']}); "
                f"remote client missed {len(missed)} (ticks {missed[0]}..{missed[-1]}, "
                f"{len(while_down)} sent while Redis was down, "
                f"{sum(ticker.sent[t] >= restarted_at for t in missed)} after the restart; "
                f"last before the kill "
                f"#{last_before}, #{last_while_down} at the restart); local client got all "
                f"{len(local)} once; flowing to both again {flowing_after:.2f} s after the "
                f"restart; error events {error_counts(c)}"
            )
    finally:
        if ticker is not None and ticker._thread is not None:
            ticker._stop.set()
        c.close()
