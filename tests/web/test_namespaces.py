"""Namespaces with real clients, on both bindings: dynamic namespaces (a pattern admits
``/team-1``, ``/team-2``, each its own rooms) with the official JavaScript client, the
removal of an empty child (``cleanup_empty_child_namespaces``), and a class-based namespace
(``ServerNamespace``) driven by python-socketio's client.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import pytest
from _interop_clients import Client
from _web_clients import PYTHON_CLIENT_LEAK, Web, run

pytestmark = PYTHON_CLIENT_LEAK

TEAMS = re.compile(r"^/team-\d+$")


def _teams_server(api: ModuleType, web: Web, **options: Any) -> Any:
    server = api.AsyncServer(**options)

    @server.on("connect", namespace=TEAMS)
    async def connect(socket: Any, auth: Any) -> None:
        socket.join("members")
        web.journal.add(("connect", socket.nsp, socket.sid))

    @server.on("shout", namespace=TEAMS)
    async def shout(socket: Any, text: str) -> str:
        # To the room "members" of the sender's own namespace (not the sender).
        await socket.to("members").emit("shout", socket.nsp, text)
        return "sent"

    @server.on("fence", namespace=TEAMS)
    async def fence(socket: Any) -> str:
        # Answered after whatever was sent to this client before.
        return "fence"

    @server.on("disconnecting", namespace=TEAMS)
    async def disconnecting(socket: Any, reason: str) -> None:
        web.journal.add(("disconnecting", socket.nsp, socket.sid))

    @server.on("disconnect", namespace=TEAMS)
    async def disconnect(socket: Any, reason: str) -> None:
        web.journal.add(("disconnect", socket.nsp, socket.sid))

    return server


async def _close_and_wait(web: Web, handler: str, *clients: Client) -> None:
    """Close the clients of /team-1, one after the other, then wait until the server's
    ``handler`` (``disconnecting`` or ``disconnect``) has run for each of their sockets."""
    leaving = {("/team-1", client.sids["/team-1"]) for client in clients}
    for client in clients:
        await client.close()
    await web.journal.wait_until(
        lambda: leaving <= set(web.journal.find(handler)),
        f"the {handler} handler of {len(leaving)} socket(s) of /team-1",
    )


@pytest.mark.parametrize("cleanup", [True, False], ids=["cleanup", "no-cleanup"])
def test_dynamic_namespaces(binding: str, api: ModuleType, node: str, cleanup: bool) -> None:
    async def scenario(web: Web) -> None:
        server = _teams_server(api, web, cleanup_empty_child_namespaces=cleanup)

        async def namespaces() -> set[str]:
            return set(await served.call_sync(server.machine.namespaces))

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            a1 = await web.connect("node", served.url, "ws", namespaces=["/team-1"])
            a2 = await web.connect("node", served.url, "ws", namespaces=["/team-1"])
            b1 = await web.connect("node", served.url, "ws", namespaces=["/team-2"])
            assert await namespaces() == {"/", "/team-1", "/team-2"}

            nope = web.client("node", served.url, "ws", namespaces=["/nope"])
            await nope.open()
            error = await nope.wait_for("connect_error", nsp="/nope")
            assert (error["message"], error["data"]) == ("Invalid namespace", None)
            assert await namespaces() == {"/", "/team-1", "/team-2"}  # /nope was not kept

            # A room is the namespace's own: "members" of /team-1 is not /team-2's.
            assert await a1.call1("shout", "go team 1", nsp="/team-1") == "sent"
            assert await a2.wait_event("shout", nsp="/team-1") == ["/team-1", "go team 1"]
            assert await b1.call1("shout", "go team 2", nsp="/team-2") == "sent"
            assert await a1.call1("fence", nsp="/team-1") == "fence"
            assert await a2.call1("fence", nsp="/team-1") == "fence"
            assert await b1.call1("fence", nsp="/team-2") == "fence"
            assert a1.events("shout", "/team-1") == []  # the sender
            assert a2.events("shout", "/team-1") == [["/team-1", "go team 1"]]
            assert b1.events("shout", "/team-2") == []  # alone in its room
            assert b1.find("event") == []  # nothing at all

            # The last client of /team-1 leaves: the child goes (with cleanup), right after
            # the last socket's disconnecting handler, as in Node (before its "disconnect").
            await _close_and_wait(web, "disconnecting", a1, a2)
            if cleanup:
                assert await namespaces() == {"/", "/team-2"}
            else:
                assert await namespaces() == {"/", "/team-1", "/team-2"}

            # Back again: admitted again, with fresh rooms.
            a3 = await web.connect("node", served.url, "ws", namespaces=["/team-1"])
            assert await a3.call1("shout", "anyone?", nsp="/team-1") == "sent"
            assert await a3.call1("fence", nsp="/team-1") == "fence"
            assert a3.events("shout", "/team-1") == []
            assert await namespaces() == {"/", "/team-1", "/team-2"}

    run(binding, scenario, node=node)


def test_broadcast_through_of_keeps_the_child_removable(
    binding: str, api: ModuleType, node: str
) -> None:
    async def scenario(web: Web) -> None:
        server = _teams_server(api, web, cleanup_empty_child_namespaces=True)

        @server.on("everyone", namespace=TEAMS)
        async def everyone(socket: Any, text: str) -> None:
            await server.of(socket.nsp).emit("everyone", text)  # the whole child namespace

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            a1 = await web.connect("node", served.url, "ws", namespaces=["/team-1"])
            await a1.emit("everyone", "hello", nsp="/team-1")
            assert await a1.wait_event("everyone", nsp="/team-1") == ["hello"]
            await _close_and_wait(web, "disconnecting", a1)
            assert set(await served.call_sync(server.machine.namespaces)) == {"/"}

    run(binding, scenario, node=node)


def test_last_socket_of_a_removed_child_gets_its_disconnect_handler(
    binding: str, api: ModuleType, node: str
) -> None:
    async def scenario(web: Web) -> None:
        server = _teams_server(api, web, cleanup_empty_child_namespaces=True)
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            a1 = await web.connect("node", served.url, "ws", namespaces=["/team-1"])
            a2 = await web.connect("node", served.url, "ws", namespaces=["/team-1"])
            await _close_and_wait(web, "disconnect", a1, a2)

    run(binding, scenario, node=node)


def test_class_based_namespace(binding: str, api: ModuleType) -> None:
    """A ``ServerNamespace`` subclass: ``on_connect``, ``on_<event>`` (what it returns is the
    acknowledgement), ``on_disconnect``; ``self.server`` set by ``register_namespace``."""

    async def scenario(web: Web) -> None:
        class Chat(api.ServerNamespace):
            async def on_connect(self, socket: Any, auth: Any) -> None:
                socket.data["name"] = auth["name"]
                socket.join("chat")
                web.journal.add(("connect", auth["name"]))

            async def on_chat(self, socket: Any, text: str) -> str:
                await socket.to("chat").emit("chat", socket.data["name"], text)
                return f"delivered: {text}"

            async def on_who(self, socket: Any) -> list[str]:
                sockets = await self.server.of(self.namespace).fetch_sockets()
                return sorted(s.data["name"] for s in sockets)

            async def on_disconnect(self, socket: Any, reason: str) -> None:
                web.journal.add(("disconnect", socket.data["name"], reason))

        server = api.AsyncServer()
        chat = Chat("/chat")
        server.register_namespace(chat)
        assert chat.server is server

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            alice, bob = [
                await web.connect(
                    "python", served.url, transport, namespaces=["/chat"], auth={"name": name}
                )
                for name, transport in (("alice", "polling"), ("bob", "ws"))
            ]
            assert await alice.call1("who", nsp="/chat") == ["alice", "bob"]
            assert await alice.call1("chat", "hi bob", nsp="/chat") == "delivered: hi bob"
            assert await bob.wait_event("chat", "/chat") == ["alice", "hi bob"]
            assert await bob.call1("chat", "hi alice", nsp="/chat") == "delivered: hi alice"
            assert await alice.wait_event("chat", "/chat") == ["bob", "hi alice"]
            assert alice.events("chat", "/chat") == [["bob", "hi alice"]]  # not its own
            await alice.close()
            await web.journal.wait_for("disconnect")
            assert await bob.call1("who", nsp="/chat") == ["bob"]
        assert web.journal.find("connect") == [("alice",), ("bob",)]
        assert web.journal.find("disconnect")[0] == ("alice", "client namespace disconnect")

    run(binding, scenario)


def test_class_based_dynamic_namespace(binding: str, api: ModuleType) -> None:
    """A ``ServerNamespace`` registered for a pattern: each child its own rooms, the same
    class's handlers."""

    async def scenario(web: Web) -> None:
        class Room(api.ServerNamespace):
            async def on_connect(self, socket: Any, auth: Any) -> None:
                socket.join("everyone")

            async def on_say(self, socket: Any, text: str) -> str:
                await socket.to("everyone").emit("said", socket.nsp, text)
                return socket.nsp

        server = api.AsyncServer()
        server.register_namespace(Room(re.compile(r"^/room-[a-z]+$")))
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            red1, red2, blue = [
                await web.connect("python", served.url, "ws", namespaces=[nsp])
                for nsp in ("/room-red", "/room-red", "/room-blue")
            ]
            assert await red1.call1("say", "red!", nsp="/room-red") == "/room-red"
            assert await red2.wait_event("said", "/room-red") == ["/room-red", "red!"]
            assert await blue.call1("say", "blue!", nsp="/room-blue") == "/room-blue"
            assert await red1.call1("say", "again", nsp="/room-red") == "/room-red"
            assert await red2.wait_event("said", "/room-red", count=2) == ["/room-red", "again"]
            assert await blue.call1("say", "last", nsp="/room-blue") == "/room-blue"  # a fence
            # blue's "said" went to nobody (alone in /room-blue), and nothing of red to it.
            assert blue.find("event") == []
            assert red2.events("said", "/room-red") == [
                ["/room-red", "red!"],
                ["/room-red", "again"],
            ]

    run(binding, scenario)
