"""Each binding through its transport hook: handlers, rooms, acks, disconnects, writers.
Everything in memory; the wire frames are checked as a client would see them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import anyio
import pytest

from sansio_rooms import Socket  # what both bindings export as Socket

from ._memory import MemoryClient, settle


def make_server(binding: ModuleType, **options: Any) -> tuple[Any, dict[str, list[Any]]]:
    """A server whose handlers record what they saw, with a few useful events."""
    server = binding.AsyncServer(**options)
    seen: dict[str, list[Any]] = {"connect": [], "disconnecting": [], "disconnect": []}

    @server.on("connect")
    async def connect(socket: Socket, auth: Any) -> Any:
        seen["connect"].append((socket.sid, auth))
        if isinstance(auth, dict) and auth.get("refuse"):
            if auth["refuse"] == "false":
                return False
            if auth["refuse"] == "crash":
                raise RuntimeError("boom")
            raise binding.ConnectionRefusedError("go away", {"retry": False})
        return None

    @server.on("join")
    def join(socket: Socket, *rooms: str) -> str:  # a plain function works too
        socket.join(rooms)
        return "joined"

    @server.on("leave")
    async def leave(socket: Socket, room: str) -> None:
        socket.leave(room)

    @server.on("say")
    async def say(socket: Socket, room: str, text: str) -> None:
        await socket.to(room).emit("said", text)

    @server.on("pair")
    async def pair(socket: Socket) -> tuple[int, str]:
        return (1, "two")

    @server.on("disconnecting")
    async def disconnecting(socket: Socket, reason: str) -> None:
        seen["disconnecting"].append((socket.sid, reason, socket.rooms))
        await socket.to(list(socket.rooms)).emit("left", socket.sid)

    @server.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        seen["disconnect"].append((socket.sid, reason, socket.rooms))

    return server, seen


class Outcome:
    """The result of a call started in a task group: its value, or the exception it raised."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = anyio.Event()

    async def capture(self, call: Callable[..., Awaitable[Any]], *args: Any) -> None:
        try:
            self.value = await call(*args)
        except Exception as error:
            self.error = error
        finally:
            self.done.set()


async def test_connect_handshake_and_auth(binding: ModuleType) -> None:
    server, seen = make_server(binding)
    async with server.running():
        client = MemoryClient(server)
        opened = await client.wait_for("0{")
        assert json.loads(opened[1:])["upgrades"] == []
        sid = await client.connect(auth={"token": "abc"})
        assert seen["connect"] == [(sid, {"token": "abc"})]
        socket = server.get_socket(sid)
        assert socket is not None and socket.connected
        assert socket.handshake.auth == {"token": "abc"}
        assert socket.handshake.query == {"EIO": "4", "transport": "websocket"}
        assert socket.rooms == frozenset({sid})


@pytest.mark.parametrize(
    ("refuse", "reply"),
    [
        ("error", '44{"message":"go away","data":{"retry":false}}'),
        ("false", '44{"message":"Not authorized"}'),
        # An unexpected exception is the application's bug: its text stays on the server.
        ("crash", '44{"message":"Internal server error"}'),
    ],
)
async def test_connect_refused(binding: ModuleType, refuse: str, reply: str) -> None:
    server, seen = make_server(binding)
    async with server.running():
        client = MemoryClient(server)
        client.feed(json.dumps({"refuse": refuse}, separators=(",", ":")).join(["40", ""]))
        assert await client.wait_for("44") == reply
        assert server.machine.engine.namespace("/").count_sockets() == 0
        assert server.get_socket(seen["connect"][0][0]) is None


async def test_events_with_acks(binding: ModuleType) -> None:
    server, _ = make_server(binding)
    async with server.running():
        client = MemoryClient(server)
        await client.connect()
        client.emit("join", "a", "b", ack_id=1)
        assert await client.wait_for("43") == '431["joined"]'
        client.emit("pair", ack_id=2)
        assert await client.wait_for("43") == '432[1,"two"]'
        client.emit("leave", "a", ack_id=3)
        assert await client.wait_for("43") == "433[]"
        sid = client.sids["/"]
        assert server.get_socket(sid).rooms == {sid, "b"}


async def test_catch_all_and_unknown_events(binding: ModuleType) -> None:
    server = binding.AsyncServer()
    caught: list[Any] = []

    @server.on("*")
    async def anything(socket: Socket, event: str, *args: Any) -> str:
        caught.append((event, args))
        return "caught"

    async with server.running():
        client = MemoryClient(server)
        await client.connect()
        client.emit("whatever", 1, {"x": 2}, ack_id=7)
        assert await client.wait_for("43") == '437["caught"]'
        assert caught == [("whatever", (1, {"x": 2}))]
    bare = binding.AsyncServer()
    async with bare.running():
        other = MemoryClient(bare)
        await other.connect()
        other.emit("nobody-listens", ack_id=1)  # no handler: no answer, no crash
        await settle()
        assert other.texts("43") == []


async def test_rooms_union_except_and_sender_exclusion(binding: ModuleType) -> None:
    server, _ = make_server(binding)
    async with server.running():
        a, b, c, d = (MemoryClient(server) for _ in range(4))
        for client in (a, b, c, d):
            await client.connect()
        server.get_socket(a.sids["/"]).join(["red", "blue"])
        server.get_socket(b.sids["/"]).join("red")
        server.get_socket(c.sids["/"]).join(["blue", "green"])
        await server.to(["red", "blue"]).emit("news", 1)
        await server.to(["red", "blue"]).except_("green").emit("news", 2)
        await server.in_("blue").emit("news", 3)
        await settle()
        assert a.texts() == ['42["news",1]', '42["news",2]', '42["news",3]']
        assert b.texts() == ['42["news",1]', '42["news",2]']
        assert c.texts() == ['42["news",1]', '42["news",3]']
        assert d.texts() == []
        a.emit("say", "blue", "hi")  # socket.to(): never the sender
        await c.wait_for('42["said"')
        assert a.texts('42["said"') == []
        await server.emit("all")
        await settle()
        assert all(x.texts('42["all"') == ['42["all"]'] for x in (a, b, c, d))


async def test_the_operator_is_immutable(binding: ModuleType) -> None:
    server, _ = make_server(binding)
    async with server.running():
        a, b = MemoryClient(server), MemoryClient(server)
        await a.connect()
        await b.connect()
        server.get_socket(a.sids["/"]).join("r1")
        server.get_socket(b.sids["/"]).join("r2")
        r1 = server.to("r1")
        both = r1.to("r2")
        await r1.emit("x")  # still r1 only
        await both.emit("y")
        await settle()
        assert a.texts() == ['42["x"]', '42["y"]']
        assert b.texts() == ['42["y"]']


async def test_namespaces_are_isolated(binding: ModuleType) -> None:
    server, _ = make_server(binding)
    chat: list[str] = []

    @server.on("connect", namespace="/chat")
    async def connect_chat(socket: Socket, auth: Any) -> None:
        chat.append(socket.sid)
        socket.join("room")

    async with server.running():
        client = MemoryClient(server)
        root_sid = await client.connect()
        chat_sid = await client.connect("/chat")
        assert root_sid != chat_sid and chat == [chat_sid]
        server.get_socket(root_sid).join("room")
        await server.of("/chat").to("room").emit("in chat")
        await settle()
        assert client.texts() == ['42/chat,["in chat"]']
        client.feed("40/nowhere,")
        reply = await client.wait_for("44/nowhere")
        assert reply == '44/nowhere,{"message":"Invalid namespace"}'


async def test_binary_payloads_both_ways(binding: ModuleType) -> None:
    server = binding.AsyncServer()
    got: list[Any] = []

    @server.on("upload")
    async def upload(socket: Socket, name: str, data: bytes) -> bytes:
        got.append((name, data))
        return data[::-1]

    async with server.running():
        client = MemoryClient(server)
        await client.connect()
        client.feed('451-1["upload","f",{"_placeholder":true,"num":0}]')
        client.feed(b"\x01\x02\x03")
        assert await client.wait_for("46") == '461-1[{"_placeholder":true,"num":0}]'
        await settle()
        assert got == [("f", b"\x01\x02\x03")]
        assert client.frames[-1] == b"\x03\x02\x01"


async def test_server_to_client_acks_with_timeouts(binding: ModuleType) -> None:
    server, _ = make_server(binding)
    async with server.running(), anyio.create_task_group() as tasks:
        a, b = MemoryClient(server), MemoryClient(server)
        await a.connect()
        await b.connect()
        socket_a = server.get_socket(a.sids["/"])
        assert socket_a is not None
        asking = Outcome()
        tasks.start_soon(asking.capture, lambda: socket_a.emit_with_ack("question", 42, timeout=2))
        assert await a.wait_for("42") == '420["question",42]'
        a.feed('430["yes",{"n":1}]')
        await asking.done.wait()
        assert asking.value == ("yes", {"n": 1})
        with pytest.raises(binding.AckTimeoutError) as raised:
            await socket_a.emit_with_ack("again", timeout=0.05)
        assert raised.value.responses == ()
        for client in (a, b):
            server.get_socket(client.sids["/"]).join("poll")
        a.frames.clear()
        voting = Outcome()
        tasks.start_soon(voting.capture, server.to("poll").timeout(0.3).emit_with_ack, "vote")
        frame = await a.wait_for("42")
        a.feed(f'43{frame[2 : frame.index("[")]}["a says yes", "ignored"]')
        await voting.done.wait()  # b stays silent
        assert isinstance(voting.error, binding.AckTimeoutError)
        assert voting.error.responses == ("a says yes",)
        a.frames.clear()
        b.frames.clear()
        both = Outcome()
        tasks.start_soon(both.capture, server.to("poll").timeout(2).emit_with_ack, "vote2")
        for client, answer in ((a, "A"), (b, "B")):
            frame = await client.wait_for("42")
            client.feed(f'43{frame[2 : frame.index("[")]}["{answer}"]')
        await both.done.wait()
        assert sorted(both.value) == ["A", "B"]
        assert await server.to("nobody").timeout(1).emit_with_ack("q") == []
        with pytest.raises(TypeError, match="timeout"):
            await server.to("poll").emit_with_ack("no timeout")
        assert len(server.machine.engine.acks) == 0


async def test_two_phase_disconnect_tells_the_rooms(binding: ModuleType) -> None:
    server, seen = make_server(binding)
    async with server.running():
        a, b = MemoryClient(server), MemoryClient(server)
        sid_a = await a.connect()
        sid_b = await b.connect()
        for client in (a, b):
            client.emit("join", "room", ack_id=1)
            await client.wait_for("431")
        a.feed("41")  # the client leaves the namespace
        assert await b.wait_for('42["left"') == f'42["left","{sid_a}"]'
        await settle()
        assert seen["disconnecting"] == [
            (sid_a, "client namespace disconnect", frozenset({sid_a, "room"}))
        ]
        assert seen["disconnect"] == [(sid_a, "client namespace disconnect", frozenset())]
        assert server.get_socket(sid_a) is None
        assert server.machine.engine.namespace("/").rooms_of(sid_b) == (sid_b, "room")
        sid_a2 = await a.connect()  # and may come back at once
        assert sid_a2 != sid_a


async def test_server_side_disconnects_and_bulk_operations(binding: ModuleType) -> None:
    server, seen = make_server(binding)
    async with server.running():
        clients = [MemoryClient(server) for _ in range(3)]
        sids = [await client.connect() for client in clients]
        await server.in_(sids[:2]).sockets_join("team")
        team = await server.in_("team").fetch_sockets()
        assert sorted(s.sid for s in team) == sorted(sids[:2])
        await server.in_("team").sockets_leave("team")
        assert await server.in_("team").fetch_sockets() == []
        await server.in_(sids[0]).disconnect_sockets()
        assert await clients[0].wait_for("41") == "41"
        await settle()
        assert seen["disconnect"][-1][:2] == (sids[0], "server namespace disconnect")
        socket = server.get_socket(sids[1])
        assert socket is not None
        await socket.disconnect(close=True)
        assert await clients[1].wait_for("41") == "41"
        with anyio.fail_after(2):
            await clients[1].closed.wait()
        assert [s.sid for s in await server.fetch_sockets()] == [sids[2]]


async def test_a_slow_client_never_stalls_the_others(binding: ModuleType) -> None:
    server, seen = make_server(binding, max_buffer=50)
    async with server.running():
        clients = [MemoryClient(server) for _ in range(100)]
        for client in clients:
            await client.connect()
        slow, fast = clients[0], clients[1:]
        await settle()
        slow.gate.clear()  # from now on it does not read: its frames wait in its buffer
        await server.sockets_join("all")
        for n in range(40):
            await server.to("all").emit("tick", n)
        await settle()
        assert all(len(client.texts()) == 40 for client in fast)
        assert slow.texts() == [] and slow.conn.buffered == 39  # one is in flight
        await server.to("all").volatile.emit("volatile tick")  # dropped for the busy one
        assert slow.conn.buffered == 39
        for n in range(40, 60):  # more than max_buffer waiting: it is disconnected
            await server.to("all").emit("tick", n)
        await settle()
        ticks = [len(client.texts('42["tick"')) for client in fast]
        assert ticks == [60] * 99  # and the volatile one, idle writers took it:
        assert all(client.texts('42["volatile tick"') for client in fast)
        assert seen["disconnect"] == [(slow.sids["/"], "transport error", frozenset())]
        assert len(await server.in_("all").fetch_sockets()) == 99
        assert slow.closed.is_set()


async def test_a_ping_goes_ahead_of_queued_data(binding: ModuleType) -> None:
    server = binding.AsyncServer(ping_interval=0.2, ping_timeout=5)
    async with server.running():
        client = MemoryClient(server)
        await client.connect()
        await settle()
        client.frames.clear()
        client.gate.clear()
        for n in range(3):
            await server.emit("data", n)
        await anyio.sleep(0.3)  # the ping is due meanwhile
        client.release()
        await client.wait_for('42["data",2]')
        assert client.frames == ['42["data",0]', "2", '42["data",1]']


@pytest.mark.parametrize("explicit", [True, False], ids=["shutdown", "end-of-running"])
async def test_shutdown_disconnects_everyone_and_runs_the_handlers(
    binding: ModuleType, explicit: bool
) -> None:
    server, seen = make_server(binding)

    def everyone_told() -> None:
        assert sorted(s for s, _, _ in seen["disconnect"]) == sorted(sids)
        assert {reason for _, reason, _ in seen["disconnect"]} == {"server shutting down"}
        assert all(client.closed.is_set() for client in clients)

    async with server.running():
        clients = [MemoryClient(server) for _ in range(3)]
        sids = [await client.connect() for client in clients]
        if explicit:
            await server.shutdown()
            everyone_told()
    everyone_told()  # and once only, when running() ends after a shutdown()


async def test_a_client_that_goes_away_is_disconnected(binding: ModuleType) -> None:
    server, seen = make_server(binding)
    async with server.running():
        client = MemoryClient(server)
        sid = await client.connect()
        client.conn.closed_by_peer()
        await settle()
        assert seen["disconnect"] == [(sid, "transport close", frozenset())]
        client.feed('42["late"]')  # ignored: the connection is gone
        await settle()


# -- robustness: what a client sends and a handler returns never hurts anyone else ----------

DEEP_INFINITY = '["echo",' + "[" * 600 + "1e400" + "]" * 600 + "]"


async def test_an_ack_that_cannot_be_encoded_hurts_nobody(
    binding: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    server = binding.AsyncServer()

    @server.on("echo")
    async def echo(socket: Socket, *args: Any) -> Any:
        return args

    @server.on("set")
    async def give_a_set(socket: Socket) -> Any:
        return {1, 2}

    @server.on("deep")
    async def give_too_deep(socket: Socket) -> Any:
        value: list[Any] = []
        for _ in range(5000):
            value = [value]
        return value

    async with server.running():
        hostile, bystander = MemoryClient(server), MemoryClient(server)
        await hostile.connect()
        await bystander.connect()
        hostile.feed("421" + DEEP_INFINITY)  # 1e400 parses as inf: JSON has no inf
        reply = await hostile.wait_for("431")
        assert reply == "431[" + "[" * 600 + "null" + "]" * 600 + "]"
        hostile.emit("set", ack_id=2)
        assert await hostile.wait_for("432") == "432[null]"
        hostile.emit("deep", ack_id=3)
        assert await hostile.wait_for("433") == "433[null]"
        assert "event 'set' in / could not be encoded" in caplog.text
        assert "event 'deep' in / could not be encoded" in caplog.text
        bystander.emit("echo", "still here", ack_id=4)
        assert await bystander.wait_for("434") == '434["still here"]'
        assert not hostile.closed.is_set() and not bystander.closed.is_set()
        late = MemoryClient(server)  # the server still takes new clients
        await late.connect()


async def test_a_client_gone_during_the_connect_handler_gets_its_disconnect(
    binding: ModuleType,
) -> None:
    server = binding.AsyncServer()
    release = anyio.Event()
    seen: list[tuple[str, str]] = []

    @server.on("connect")
    async def connect(socket: Socket, auth: Any) -> None:
        seen.append(("connect", socket.sid))
        await release.wait()  # a token lookup
        await socket.emit("welcome")

    @server.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        seen.append((reason, socket.sid))

    async with server.running():
        clients = [MemoryClient(server) for _ in range(20)]
        for client in clients:
            client.feed("40")
        await settle()
        for client in clients:
            client.conn.closed_by_peer()
        release.set()
        await settle(20)
        connected = [sid for event, sid in seen if event == "connect"]
        assert len(connected) == 20
        assert sorted(sid for event, sid in seen if event == "transport close") == sorted(connected)
        assert server.machine.engine.namespace("/").count_sockets() == 0
        assert all(server.get_socket(sid) is None for sid in connected)
        assert not any(client.texts() for client in clients)  # the welcome went nowhere
    assert not any(client.texts() for client in clients)  # nor at the shutdown


async def test_a_client_gone_before_its_connect_handler_ran_is_never_seen(
    binding: ModuleType,
) -> None:
    server = binding.AsyncServer()
    seen: list[str] = []

    @server.on("connect")
    async def connect(socket: Socket, auth: Any) -> None:
        seen.append(socket.sid)

    async with server.running():
        client = MemoryClient(server)
        client.feed("40")
        client.feed('42["too early"]')  # before the CONNECT is answered: it is closed
        await settle()
        assert client.closed.is_set()
        assert seen == []
        assert server.machine.engine.namespace("/").count_sockets() == 0
        assert server._sockets == {}


async def test_the_connect_handler_emits_come_first_after_a_pause(binding: ModuleType) -> None:
    server = binding.AsyncServer()

    @server.on("connect")
    async def connect(socket: Socket, auth: Any) -> None:
        await socket.emit("welcome")

    @server.on("echo")
    async def echo(socket: Socket, *args: Any) -> Any:
        return args

    async with server.running():
        client = MemoryClient(server)
        await client.wait_for("0{")
        client.feed("40")
        assert (await client.wait_for("40{")).startswith("40{")
        client.emit("echo", "next", ack_id=1)  # at once: the writes are held a moment
        await client.wait_for("431")
        # What the connect handler emitted came first (the reply and the ack are taken out).
        assert [f for f in client.frames if f != "2"] == ['42["welcome"]']
        assert client.conn.buffered == 0
