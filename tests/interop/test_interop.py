"""Interop: the server under test against real clients (python-socketio and the official
JavaScript client), over WebSocket only, long-polling upgraded to WebSocket, and long-polling
only.

Each scenario is written once, against the client interface of ``_interop_clients``, and
runs for every binding x client kind x transport (see ``conftest.py``). The server runs the
application of ``_interop_app``; the scenarios drive it through client events.

No sleep serves as synchronisation: a scenario waits (bounded) for what a client observes,
and "did not receive" is checked after a *fence* (``Session.fence``), an event the server
sends to the whole namespace after the emits under test: a connection delivers in order, so a
client that has the fence has everything that was sent to it before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

import aiohttp
import engineio.payload
import pytest
from _interop_app import (
    REFUSAL_DATA,
    REFUSAL_MESSAGE,
    REFUSE_WITH_ERROR,
    REFUSE_WITH_FALSE,
    burst_item,
)
from _interop_clients import Client
from _interop_session import Interop, Session

# python-socketio's client (aiohttp under engineio) drops a long-polling GET still in flight
# when it disconnects, without releasing its connection: aiohttp then warns about an unclosed
# connection when the garbage collector finds it. Whether a GET is in flight at that moment
# is timing (the trio server sees it more often). That client's hygiene, not the server's.
pytestmark = pytest.mark.filterwarnings("ignore:Unclosed connection:ResourceWarning")


class StopTooSlow(AssertionError):
    """The server under test did not stop in time."""


def known_bug(
    request: pytest.FixtureRequest,
    binding: str,
    bindings: set[str],
    reason: str,
    raises: type[BaseException] = AssertionError,
) -> None:
    """Mark the test a strict xfail when the server under test is one of ``bindings``: a bug
    seen in those bindings, not fixed here. (A new binding without the bug passes; one with
    it is added to the set.)"""
    if binding in bindings:
        request.applymarker(pytest.mark.xfail(strict=True, raises=raises, reason=reason))


CONNECT_EMIT_BUG = (
    "`await socket.emit(...)` in the connect handler is silently dropped. The handler runs "
    "while the socket is PENDING (before machine.accept()), and the engine skips pending "
    "sockets in every selection, sids=(sid,) included: nothing is sent, nothing is raised. "
    "Node runs its 'connection' handler after CONNECT is written (the emit arrives); "
    "python-socketio sends it before CONNECT and the JS client buffers it until connected. "
    "Expected: the client gets the event, after its connect"
)


BLOB = bytes(range(256)) * 3  # every byte value, NUL and invalid UTF-8 included
SMALL_BLOB = b"\x00\xffbin\x80"


# -- connecting ------------------------------------------------------------------------------


def test_connect_with_auth(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        auth = {"token": "ok", "name": "ann"}
        ann = await s.connect("ann", auth=auth)
        me = await ann.call1("whoami")
        assert me["sid"] == ann.sids["/"]
        assert me["nsp"] == "/"
        assert me["auth"] == auth
        assert me["name"] == "ann"
        assert me["rooms"] == []
        assert me["in_own_room"] is True
        assert me["transport"] == s.transports[0]
        assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", me["sid"])  # 22 here (docs/semantics.md)

    interop.run(scenario)


def test_connect_refused_with_error_data(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        bad = s.client("bad", auth=REFUSE_WITH_ERROR)
        await bad.open()
        error = await bad.wait_for("connect_error", nsp="/")
        assert error["message"] == REFUSAL_MESSAGE
        assert error["data"] == REFUSAL_DATA
        assert not bad.find("connect")
        # The server still serves others.
        good = await s.connect("good")
        assert await good.call("echo", 1) == ["/", 1]

    interop.run(scenario)


def test_connect_refused_by_returning_false(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        bad = s.client("bad", auth=REFUSE_WITH_FALSE)
        await bad.open()
        error = await bad.wait_for("connect_error", nsp="/")
        assert error["message"] == "Not authorized"
        assert error["data"] is None
        assert not bad.find("connect")

    interop.run(scenario)


def test_connect_handler_joins_rooms(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        other = await s.connect("other")
        ann = await s.connect("ann", auth={"rooms": ["lobby", "news"]})
        assert (await ann.call1("whoami"))["rooms"] == ["lobby", "news"]
        await other.call1("server_emit", {"to": ["lobby"]}, "msg", "hi lobby")
        assert await ann.wait_event("msg") == ["hi lobby"]

    interop.run(scenario)


def test_connect_handler_emits(interop: Interop, request: pytest.FixtureRequest) -> None:

    async def scenario(s: Session) -> None:
        ann = await s.connect("ann", auth={"welcome": True})
        await s.fence(ann, ann)  # after anything the connect handler sent
        assert ann.events("welcome") == [[ann.sids["/"], []]]

    interop.run(scenario)


# -- rooms and broadcasting ------------------------------------------------------------------


async def _rooms(s: Session, **members: list[str]) -> dict[str, Client]:
    """Connect one client per keyword, joined to the listed rooms."""
    clients = dict(zip(members, await s.connect_many(*members), strict=True))
    for name, rooms in members.items():
        if rooms:
            assert await clients[name].call1("join", rooms) == sorted(rooms)
    return clients


def _received(clients: dict[str, Client], event: str) -> dict[str, list[list[object]]]:
    return {name: client.events(event) for name, client in clients.items()}


def test_union_of_rooms_reached_exactly_once(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        c = await _rooms(s, a=["r1"], b=["r1", "r2"], c=["r2", "r3"], d=["r3"], e=[])
        sent = await c["e"].call1("server_emit", {"to": ["r1", "r2"]}, "msg", "hi", {"n": 1})
        assert sent == "sent"
        await s.fence(c["e"], *c.values())
        assert _received(c, "msg") == {
            "a": [["hi", {"n": 1}]],
            "b": [["hi", {"n": 1}]],
            "c": [["hi", {"n": 1}]],
            "d": [],
            "e": [],
        }

    interop.run(scenario)


def test_except(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        c = await _rooms(s, a=["r1"], b=["r1", "r2"], c=["r2"], d=[])
        # server.to(r1, r2).except_(r2): a only.
        await c["d"].call1("server_emit", {"to": ["r1", "r2"], "except": ["r2"]}, "msg", 1)
        # server.except_(r1): the whole namespace but r1.
        await c["d"].call1("server_emit", {"except": ["r1"]}, "msg", 2)
        # socket.except_(r2) from a: everyone but r2 and a itself.
        await c["a"].call1("socket_except", ["r2"], "msg", 3)
        await s.fence(c["d"], *c.values())
        assert _received(c, "msg") == {"a": [[1]], "b": [], "c": [[2]], "d": [[2], [3]]}

    interop.run(scenario)


def test_sender_is_excluded(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        c = await _rooms(s, sender=["r1"], a=["r1"], b=[])
        sender = c["sender"]
        await sender.call1("socket_to", "r1", "msg", "room")  # socket.to(room): a only
        await sender.call1("socket_broadcast", "msg", "all")  # socket.broadcast: a and b
        await sender.call1("socket_to", sender.sids["/"], "msg", "self")  # nobody
        await s.fence(sender, *c.values())
        assert _received(c, "msg") == {"sender": [], "a": [["room"], ["all"]], "b": [["all"]]}

    interop.run(scenario)


def test_namespaces_are_isolated(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        both = await s.connect("both", namespaces=["/", "/chat"])
        main = await s.connect("main", namespaces=["/"])
        chat = await s.connect("chat", namespaces=["/chat"])
        assert both.sids["/"] != both.sids["/chat"]
        assert await both.call("echo", "x", nsp="/chat") == ["/chat", "x"]
        assert await both.call("echo", "x", nsp="/") == ["/", "x"]
        # The same room name in two namespaces: two rooms.
        assert await both.call1("join", ["room"], nsp="/") == ["room"]
        assert await main.call1("join", ["room"], nsp="/") == ["room"]
        assert await chat.call1("join", ["room"], nsp="/chat") == ["room"]
        assert await both.call1("whoami", nsp="/chat") == {
            "sid": both.sids["/chat"],
            "nsp": "/chat",
            "name": None,
            "auth": {},
            "transport": s.transports[0],
            "rooms": [],
            "in_own_room": True,
        }
        await chat.call1("server_emit", {"to": ["room"]}, "msg", "in chat", nsp="/chat")
        await main.call1("server_emit", {"to": ["room"]}, "msg", "in main", nsp="/")
        await s.fence(chat, both, chat, nsp="/chat")
        await s.fence(main, both, main, nsp="/")
        assert both.events("msg", "/") == [["in main"]]
        assert both.events("msg", "/chat") == []
        assert main.events("msg", "/") == [["in main"]]
        assert chat.events("msg", "/chat") == [["in chat"]]

    interop.run(scenario)


# -- binary payloads -------------------------------------------------------------------------


def test_binary_both_ways(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        c = await _rooms(s, a=["r"], b=["r"])
        payload = {"blob": BLOB, "nested": [SMALL_BLOB, "text", {"deep": b""}]}
        # Client -> server -> ack: bytes in the event and back in the acknowledgement.
        assert await c["a"].call("echo", BLOB, payload) == ["/", BLOB, payload]
        # Client -> server -> other client: bytes in a broadcast event.
        await c["a"].call1("socket_to", "r", "bin", SMALL_BLOB, payload)
        assert await c["b"].wait_event("bin") == [SMALL_BLOB, payload]

    interop.run(scenario)


def test_large_payloads(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        a = await s.connect("a")
        big_blob = bytes(range(256)) * 1200  # 300 KB
        # 39 K characters: python-socketio escapes non-ASCII in JSON (up to 12 bytes a
        # character), and a long-polling POST must stay under max_payload (1 MB).
        big_text = "ünïcødé ✓ 🎉 " * 3_000
        assert await a.call("echo", big_blob, big_text) == ["/", big_blob, big_text]

    interop.run(scenario)


def test_many_events_keep_their_order(interop: Interop, monkeypatch: pytest.MonkeyPatch) -> None:
    # python-engineio's client refuses a long-polling response of more than 16 packets
    # ("Too many packets in payload", python-engineio#142; the maintainer's workaround is this
    # class attribute). Servers (Node's, python-engineio's, this one) send all that is queued
    # in one response, so a burst needs it.
    monkeypatch.setattr(engineio.payload.Payload, "max_decode_packets", 1000)

    async def scenario(s: Session) -> None:
        a = await s.connect("a")
        # Server -> client: text and binary packets mixed (batched over long-polling).
        assert await a.call1("burst", 60) == 60
        await a.wait_event("seq", count=60)
        assert a.events("seq") == [[index, burst_item(index)] for index in range(60)]
        # Client -> server, without acknowledgements (batched too), then one with.
        sent = [[index, SMALL_BLOB if index % 4 == 0 else f"#{index}\x1e"] for index in range(40)]
        for args in sent:
            await a.emit("record", *args)
        assert await a.call1("log") == sent

    interop.run(scenario)


@pytest.mark.transports("upgrade")
def test_events_during_the_upgrade(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        a = s.client("a")
        await a.open()
        await a.wait_for("connect", nsp="/")  # not waiting for the upgrade
        assert await a.call1("burst", 30) == 30
        await a.connected()  # upgraded now
        await a.wait_event("seq", count=30)
        assert a.events("seq") == [[index, burst_item(index)] for index in range(30)]

    interop.run(scenario)


def test_heartbeat_keeps_the_connection(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        a = await s.connect("a")
        # Ping every 0.1 s: 0.6 s is six rounds. Time passing is the point here, and the
        # protocol shows no ping to the application: a plain bounded wait.
        await asyncio.sleep(0.6)
        assert not a.find("disconnect")
        assert await a.call("echo", "alive") == ["/", "alive"]

    interop.run(scenario, ping_interval=0.1, ping_timeout=1.0)


# -- acknowledgements ------------------------------------------------------------------------


def test_ack_client_to_server(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        a = await s.connect("a")
        assert await a.call("echo") == ["/"]
        args = [1, "two", [3], {"four": 4.5}, None, True, 'é ✓ 🎉 \u2028 \x1e \\ "', -(2**53)]
        assert await a.call("echo", *args) == ["/", *args]
        # No handler for the event: the catch-all ("*") answers.
        assert await a.call("no_such_event", "x") == ["caught", "no_such_event", "x"]

    interop.run(scenario)


def test_ack_server_to_client(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        replies = {"/": {"question": ["fine", SMALL_BLOB, {"n": 2}]}}
        a = await s.connect("a", replies=replies)
        answer = await a.call("ask", 2.0, "how are you?", BLOB)
        assert answer == ["answered", ["fine", SMALL_BLOB, {"n": 2}]]
        assert a.events("question") == [["how are you?", BLOB]]

    interop.run(scenario)


def test_ack_server_to_client_timeout(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        a = await s.connect("a", replies={"/": {"question": None}})  # never answers
        assert await a.call("ask", 0.3, "hello?") == ["timeout"]
        assert a.events("question") == [["hello?"]]
        # The connection is still usable.
        assert await a.call("echo", "still") == ["/", "still"]

    interop.run(scenario)


def test_broadcast_ack_aggregation(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        def answering(value: str) -> dict[str, dict[str, list[object] | None]]:
            return {"/": {"poll": [value, "ignored second argument"]}}

        a = await s.connect("a", replies=answering("A"))
        b = await s.connect("b", replies=answering("B"))
        silent = await s.connect("silent", replies={"/": {"poll": None}})
        caller = await s.connect("caller")
        for member in (a, b, silent):
            await member.call1("join", ["poll-room"])
        # Everyone answers except one: a timeout, with the others' answers (first args only).
        result = await caller.call1("poll_room", "poll-room", 1.0, "vote?")
        assert result["timed_out"] is True
        assert sorted(result["responses"]) == ["A", "B"]
        for member in (a, b, silent):
            assert member.events("poll") == [["vote?"]]
        # Without the silent one, every answer comes and there is no timeout.
        assert await silent.call1("leave", "poll-room") == []
        result = await caller.call1("poll_room", "poll-room", 2.0, "again?")
        assert result == {"timed_out": False, "responses": result["responses"]}
        assert sorted(result["responses"]) == ["A", "B"]
        # An empty room: done at once, no answers.
        assert await caller.call1("poll_room", "nobody", 2.0) == {
            "timed_out": False,
            "responses": [],
        }

    interop.run(scenario)


# -- disconnections --------------------------------------------------------------------------


def test_disconnecting_handler_tells_the_rooms(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        c = await _rooms(s, stays=["r1", "r2"], other=["r2"], leaves=["r1", "r2", "r3"])
        leaver = c["leaves"]
        sid = leaver.sids["/"]
        await leaver.close()
        [left] = await c["stays"].wait_event("left")
        assert left["sid"] == sid
        assert left["rooms"] == ["r1", "r2", "r3"]  # still in its rooms while disconnecting
        # python-socketio closes its WebSocket without waiting for its DISCONNECT packet to
        # go out, so the server may see the connection close first.
        reasons = {"client namespace disconnect"}
        if leaver.kind == "python":
            reasons.add("transport close")
        assert left["reason"] in reasons
        assert await c["other"].wait_event("left") == [left]  # once, though in several rooms
        [gone] = await c["stays"].wait_event("gone")
        assert gone == {"sid": sid, "reason": left["reason"], "rooms": []}  # rooms left now
        await s.fence(c["stays"], c["stays"], c["other"])
        assert len(c["stays"].events("left")) == len(c["other"].events("left")) == 1

    interop.run(scenario)


@pytest.mark.parametrize("close", [False, True], ids=["namespace", "close"])
def test_server_disconnect_sockets(interop: Interop, close: bool) -> None:
    async def scenario(s: Session) -> None:
        c = await _rooms(s, kicked=["doomed"], other=["doomed"], stays=["safe"])
        kicked, other, stays = c["kicked"], c["other"], c["stays"]
        assert sorted(await stays.call1("fetch", "doomed")) == sorted(
            [kicked.sids["/"], other.sids["/"]]
        )
        assert await stays.call1("kick", "doomed", close) == "kicked"
        for client in (kicked, other):
            disconnect = await client.wait_for("disconnect", nsp="/")
            assert disconnect["reason"] == client.SERVER_DISCONNECT
        gone = [(await stays.wait_event("gone", count=n))[0] for n in (1, 2)]
        assert sorted(g["sid"] for g in gone) == sorted([kicked.sids["/"], other.sids["/"]])
        assert {g["reason"] for g in gone} == {"server namespace disconnect"}
        assert await stays.call1("fetch", "doomed") == []
        assert await stays.call("echo", "here") == ["/", "here"]

    interop.run(scenario)


def test_server_disconnect_keeps_other_namespaces(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        both = await s.connect("both", namespaces=["/", "/chat"])
        admin = await s.connect("admin", namespaces=["/chat"])
        await both.call1("join", ["doomed"], nsp="/chat")
        assert await admin.call1("kick", "doomed", False, nsp="/chat") == "kicked"
        disconnect = await both.wait_for("disconnect", nsp="/chat")
        assert disconnect["reason"] == both.SERVER_DISCONNECT
        # "/" of the same connection is still there.
        assert await both.call("echo", "alive", nsp="/") == ["/", "alive"]
        assert not both.find("disconnect", nsp="/")

    interop.run(scenario)


# Not over long-polling only: whether the client notices the stop at once depends on whether
# its GET is parked at that moment (see test_stop_with_a_parked_long_poll_get).
@pytest.mark.transports("ws", "upgrade")
def test_client_reconnects_after_server_restart(interop: Interop) -> None:
    async def scenario(s: Session) -> None:
        a = await s.connect("a")
        first_sid = a.sids["/"]
        stopping = asyncio.create_task(s.stop_server())
        # The client notices at once: its connection is closed.
        disconnect = await a.wait_for("disconnect", nsp="/", timeout=3)
        assert disconnect["reason"] in a.TRANSPORT_CLOSE
        await stopping
        await s.start_server()  # same port
        connect = await a.wait_for("connect", nsp="/", count=2)
        assert connect["sid"] != first_sid
        assert await a.call("echo", "back") == ["/", "back"]

    interop.run(scenario)


def test_stop_with_a_parked_long_poll_get(binding: str) -> None:
    """A server stops promptly even while a long-polling client waits on a GET, and the GET
    gets its answer (a Node server answers it with a close packet). Stopped from code, as
    the docs say: ``server.shutdown()`` first, then the ASGI server (tests/test_shutdown.py
    stops the command-line servers with a signal)."""

    async def scenario(s: Session) -> None:
        async with aiohttp.ClientSession() as http:
            base = f"{s.url}/socket.io/?EIO=4&transport=polling"
            async with http.get(base) as response:  # Engine.IO handshake
                handshake = await response.text()
            assert handshake.startswith("0"), handshake
            query = f"{base}&sid={json.loads(handshake[1:])['sid']}"
            async with http.post(query, data="40") as response:  # CONNECT to "/"
                assert response.status == 200
            async with http.get(query) as response:  # its answer
                assert (await response.text()).startswith("40")
            parked = asyncio.create_task(http.get(query))
            # No signal tells that the GET has reached the server: give it a moment
            # (loopback), then check that it is parked (nothing to send, no ping yet).
            await asyncio.sleep(0.2)
            assert not parked.done()
            stopping = asyncio.create_task(s.stop_server())
            try:
                await asyncio.wait({stopping, parked}, timeout=3)
                if not stopping.done():
                    raise StopTooSlow("the server did not stop within 3 s")
                assert parked.done()
            finally:
                parked.cancel()  # lets a stop held up by it finish
                with contextlib.suppress(BaseException):
                    (await parked).release()
                await stopping

    Interop(binding, client_kind="python", transport="polling").run(scenario)
