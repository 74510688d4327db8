"""Connection state recovery with the official JavaScript client (socket.io-client 4.8), on
every binding: a client whose connection is cut (its WebSocket terminated, no close frame)
comes back within the window with its id, its rooms, its data and exactly the broadcasts it
missed, in order, before anything new; past the window it gets a new session.

The client is made with ``reconnection: false`` and reconnects when the scenario says so:
once the server has finished the disconnect (the application's ``disconnect`` handler has
told the others), so that the session is there to take back. python-socketio's client has no
recovery: these scenarios run with the JavaScript client only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _interop_clients import Client
from _interop_session import Interop, Session

from sansio_rooms import ConnectionStateRecovery

WINDOW = 2.0

pytestmark = [pytest.mark.client_kinds("node"), pytest.mark.transports("ws", "upgrade")]


async def fence(b: Client, a: Client, token: str) -> None:
    """Session.fence, for broadcasts that carry an offset after their arguments: once ``a``
    has the fence, it has everything the server sent it before."""
    assert await b.call1("fence", token) == token
    await a.wait_until(
        lambda: any(args[0] == token for args in a.events("fence")), f"the fence {token}"
    )


def events_since(client: Client, start: int) -> list[tuple[str, list[Any]]]:
    return [
        (observation["event"], observation["args"])
        for observation in client.observed[start:]
        if observation.get("type") == "event"
    ]


async def dropped(session: Session) -> tuple[Client, Client, str, int]:
    """``a`` in rooms r1 and r2 (with something in its data, and one broadcast received, so
    that it has an offset), ``b`` in r3; then a's connection is cut, and the server has
    finished its disconnect. Returns a, b, a's sid and where a's observations resume."""
    a = session.client("a", options={"reconnection": False})
    await a.open()
    sid = (await a.connected())["/"]
    b = await session.connect("b")
    assert await a.call1("join", ["r1", "r2"]) == ["r1", "r2"]
    assert await b.call1("join", ["r3"]) == ["r3"]
    await a.emit("record", "kept")
    assert await a.call1("log") == [["kept"]]
    assert await b.call1("server_emit", {"to": ["r1"]}, "before", 0) == "sent"
    before = await a.wait_event("before")
    assert before[0] == 0 and isinstance(before[1], str)  # the offset, appended
    await a.drop()
    await a.wait_for("disconnect", reason="transport close")
    gone = await b.wait_event("gone")
    assert gone[0]["sid"] == sid and gone[0]["reason"] == "transport close"
    return a, b, sid, len(a.observed)


async def broadcasts_while_away(b: Client) -> None:
    """Three broadcasts that reach a's rooms; one to a room it is not in, one volatile, one
    expecting acknowledgements: none of those three is kept for it."""
    assert await b.call1("server_emit", {"to": ["r1"]}, "one", 1) == "sent"
    assert await b.call1("server_emit", {"to": ["r3"]}, "not-mine", 0) == "sent"
    assert await b.call1("server_emit_volatile", "r1", "volatile", 0) == "sent"
    polled = await b.call1("poll_room", "r2", 1.0, "acked")
    assert polled == {"timed_out": False, "responses": []}  # a is away: nobody to ask
    assert await b.call1("server_emit", {"to": ["r2", "r3"]}, "two", 2) == "sent"
    assert await b.call1("server_emit", {}, "three", 3) == "sent"


def test_a_client_back_within_the_window_recovers(interop: Interop) -> None:
    async def scenario(session: Session) -> None:
        a, b, sid, resume = await dropped(session)
        await broadcasts_while_away(b)
        await a.reconnect()
        connect = await a.wait_for("connect", count=2)
        assert connect["sid"] == sid and connect["recovered"] is True
        await fence(b, a, "after-recovery")
        received = events_since(a, resume)
        assert [event for event, _ in received] == ["one", "two", "three", "fence"]
        assert [args[0] for _, args in received[:3]] == [1, 2, 3]
        offsets = [args[1] for _, args in received[:3]]
        assert all(isinstance(offset, str) for offset in offsets)
        assert len(set(offsets)) == 3
        # Before anything new: the missed events come before the CONNECT reply, as Node
        # writes them (the client hands them to the application as they come).
        kinds = [o["type"] for o in a.observed[resume:] if o["type"] in ("event", "connect")]
        assert kinds == ["event", "event", "event", "connect", "event"]
        state = await a.call1("whoami_recovered")
        assert state == {
            "sid": sid,
            "recovered": True,
            "rooms": ["r1", "r2"],
            "in_own_room": True,
            "name": None,
        }
        assert await a.call1("log") == [["kept"]]
        # The recovered socket is a member again: a new broadcast to r1 reaches it.
        assert await b.call1("server_emit", {"to": ["r1"]}, "after", 4) == "sent"
        assert (await a.wait_event("after"))[0] == 4

    interop.run(
        scenario,
        connection_state_recovery=ConnectionStateRecovery(max_disconnection_duration=WINDOW),
    )


def test_a_client_back_after_the_window_gets_a_new_session(interop: Interop) -> None:
    async def scenario(session: Session) -> None:
        a, b, sid, resume = await dropped(session)
        await broadcasts_while_away(b)
        await asyncio.sleep(WINDOW + 0.5)  # time passing is the point here
        await a.reconnect()
        connect = await a.wait_for("connect", count=2)
        assert connect["sid"] != sid and connect["recovered"] is False
        await fence(b, a, "after-new-session")
        assert [event for event, _ in events_since(a, resume)] == ["fence"]
        state = await a.call1("whoami_recovered")
        assert state["recovered"] is False and state["rooms"] == []
        assert await a.call1("log") == []

    interop.run(
        scenario,
        connection_state_recovery=ConnectionStateRecovery(max_disconnection_duration=WINDOW),
    )
