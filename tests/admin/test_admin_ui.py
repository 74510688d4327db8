"""The Admin UI protocol on the real bindings, spoken by the official JavaScript client
connecting as the UI does (``node/admin.cjs``), while chat clients (tests/interop's official
client) come and go: login, the initial state, live changes, the UI's actions on a real
client, read-only, production mode, bad input.

Every wait is bounded; "nothing happened" is checked after a fence: an acknowledged event on
the admin's socket, answered once the server has handled what the admin sent before it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from _interop_bindings import BINDINGS, BindingAPI
from _interop_clients import NodeClient, NodeHost

from .conftest import ADMIN_DIR

ADMIN = "/admin"
ACTIONS = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
TEST_TIMEOUT = 30.0


def admin_host() -> NodeHost:
    """tests/interop's ``NodeHost``, running ``node/admin.cjs`` (the admin side) instead."""
    return NodeHost(ADMIN_DIR / "admin.cjs", ADMIN_DIR)


def chat_app(**instrument: Any) -> Callable[[Any, BindingAPI], None]:
    """A chat server, instrumented with ``instrument``; ``fence`` on the admin namespace."""

    def install(server: Any, api: BindingAPI) -> None:
        server.instrument(**instrument)

        @server.on("join")
        def join(socket: Any, room: str) -> list[str]:
            socket.join(room)
            return sorted(map(str, socket.rooms))

        @server.on("rooms")
        def rooms(socket: Any) -> list[str]:
            return sorted(map(str, socket.rooms))

        @server.on("say")
        async def say(socket: Any, room: str, text: str) -> None:
            await socket.to(room).emit("said", text)

        @server.on("fence", namespace=ADMIN)
        def fence(socket: Any) -> str:
            return "fenced"

    return install


class Scene:
    """One test's server, chat clients and admins."""

    def __init__(self, url: str, node: str) -> None:
        NodeHost.executable = node
        self.url = url
        self.chats, self.admins = NodeHost(), admin_host()
        self.clients: list[NodeClient] = []

    async def chat(self, name: str, transports: tuple[str, ...] = ("websocket",)) -> NodeClient:
        client = NodeClient(self.url, transports, host=self.chats, key=name, name=name)
        self.clients.append(client)
        await client.open()
        await client.connected()
        return client

    async def admin(self, auth: Any = None, name: str = "admin") -> NodeClient:
        """An admin that started to connect (``connected()`` or a ``connect_error`` follow)."""
        client = NodeClient(
            self.url, ("websocket",), namespaces=(ADMIN,), auth=auth, host=self.admins, key=name
        )
        client.name = name
        self.clients.append(client)
        await client.open()
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.chats.close()
        await self.admins.close()


def run(
    binding: str,
    node: str,
    install: Callable[[Any, BindingAPI], None],
    scenario: Callable[[Scene], Awaitable[None]],
) -> None:
    async def main() -> None:
        async with BINDINGS[binding](install) as served:
            scene = Scene(served.url, node)
            try:
                await asyncio.wait_for(scenario(scene), TEST_TIMEOUT)
            finally:
                await scene.close()

    asyncio.run(main())


async def fence(admin: NodeClient) -> None:
    assert await admin.call1("fence", nsp=ADMIN) == "fenced"


def told(admin: NodeClient, event: str) -> list[list[Any]]:
    return admin.events(event, nsp=ADMIN)


async def bcryptjs_hash(node: str, password: str) -> str:
    """What a Node user of ``@socket.io/admin-ui`` puts in its options (bcryptjs)."""
    NodeHost.executable = node
    host = admin_host()
    hasher = NodeClient("", (), host=host, key="hasher")
    try:
        await host.command(hasher, "hash", password=password)
        found: str = (await hasher.wait_for("hash"))["hash"]
        return found
    finally:
        await host.close()


def test_login_refused_then_accepted_then_by_session(binding: str, node: str) -> None:
    hashed = asyncio.run(bcryptjs_hash(node, "s3cret"))
    assert hashed.startswith("$2a$10$")
    auth = {"type": "basic", "username": "admin", "password": hashed}

    async def scenario(scene: Scene) -> None:
        for name, credentials in (
            ("nobody", None),
            ("wrong", {"username": "admin", "password": "nope"}),
            ("stranger", {"username": "root", "password": "s3cret"}),
            ("forged", {"sessionId": "made-up"}),
        ):
            refused = await scene.admin(credentials, name)
            error = await refused.wait_for("connect_error", nsp=ADMIN)
            assert error["message"] == "invalid credentials", name
        admin = await scene.admin({"username": "admin", "password": "s3cret"})
        await admin.connected()
        [session] = await admin.wait_event("session", ADMIN)
        [config] = await admin.wait_event("config", ADMIN)
        assert config["supportedFeatures"] == [*ACTIONS, "AGGREGATED_EVENTS", "ALL_EVENTS"]
        again = await scene.admin({"sessionId": session}, "again")  # as the UI reloads
        await again.connected()
        await again.wait_event("all_sockets", ADMIN)
        assert told(again, "session") == []

    run(binding, node, chat_app(auth=auth), scenario)


@pytest.mark.parametrize("binding", sorted(BINDINGS))
def test_the_initial_state_then_sockets_and_rooms_as_they_change(binding: str, node: str) -> None:
    async def scenario(scene: Scene) -> None:
        ann = await scene.chat("ann")
        assert await ann.call1("join", "lobby") == sorted([ann.sids["/"], "lobby"])
        admin = await scene.admin()
        await admin.connected()
        [sockets] = await admin.wait_event("all_sockets", ADMIN)
        [stats] = await admin.wait_event("server_stats", ADMIN)
        a = ann.sids["/"]
        [listed] = [s for s in sockets if s["id"] == a]
        assert listed["nsp"] == "/" and listed["rooms"] == [a, "lobby"]
        assert listed["transport"] == "websocket" and listed["handshake"]["address"] == "127.0.0.1"
        assert admin.sids[ADMIN] in [s["id"] for s in sockets if s["nsp"] == ADMIN]
        assert stats["serverId"] == "test-server" and stats["clientsCount"] == 2
        assert {"name": "/", "socketsCount": 1} in stats["namespaces"]

        bob = await scene.chat("bob")
        b = bob.sids["/"]
        [connected, when] = await admin.wait_event("socket_connected", ADMIN, count=2)
        assert connected["id"] == b and connected["rooms"] == [b] and when.endswith("Z")
        await bob.call1("join", "lobby")
        await ann.emit("say", "lobby", "hi")
        await bob.wait_event("said")
        await admin.wait_for("event", nsp=ADMIN, event="event_sent")
        await bob.close()
        await admin.wait_for("event", nsp=ADMIN, event="socket_disconnected", count=1)
        happened = [
            [o["event"], *o["args"][:-1]]  # without the timestamps
            for o in admin.find("event", nsp=ADMIN)
            if o["event"] not in ("server_stats", "all_sockets", "config", "socket_connected")
        ]
        assert happened[-8:] == [
            ["room_joined", "/", b, b],
            ["event_received", "/", b, ["join", "lobby"]],
            ["room_joined", "/", "lobby", b],
            ["event_received", "/", a, ["say", "lobby", "hi"]],
            ["event_sent", "/", b, ["said", "hi"]],  # not to the sender
            ["room_left", "/", b, b],
            ["room_left", "/", "lobby", b],
            ["socket_disconnected", "/", b, "client namespace disconnect"],
        ]

    run(binding, node, chat_app(auth=False, server_id="test-server"), scenario)


def test_the_ui_actions_on_a_real_client(binding: str, node: str) -> None:
    async def scenario(scene: Scene) -> None:
        ann = await scene.chat("ann")
        bob = await scene.chat("bob")
        a, b = ann.sids["/"], bob.sids["/"]
        admin = await scene.admin()
        await admin.connected()
        await admin.emit("join", "/", "vip", a, nsp=ADMIN)  # one socket: its id is a room
        await fence(admin)
        assert await ann.call1("rooms") == sorted([a, "vip"])
        assert await bob.call1("rooms") == [b]
        assert ["/", "vip", a] in [e[:-1] for e in told(admin, "room_joined")]
        await admin.emit("join", "/", "all", nsp=ADMIN)  # every socket of the namespace
        await admin.emit("leave", "/", "vip", a, nsp=ADMIN)
        await fence(admin)
        assert await ann.call1("rooms") == sorted([a, "all"])
        assert await bob.call1("rooms") == sorted([b, "all"])
        assert ["/", "vip", a] in [e[:-1] for e in told(admin, "room_left")]
        await admin.emit("emit", "/", b, "hello", 1, {"x": 2}, nsp=ADMIN)
        assert await bob.wait_event("hello") == [1, {"x": 2}]
        await admin.emit("_disconnect", "/", False, a, nsp=ADMIN)
        disconnected = await ann.wait_for("disconnect", nsp="/")
        assert disconnected["reason"] == "io server disconnect"
        gone = await admin.wait_for("event", nsp=ADMIN, event="socket_disconnected")
        assert gone["args"][:-1] == ["/", a, "server namespace disconnect"]
        await fence(admin)
        assert ann.events("hello") == [] and bob.find("disconnect") == []

    run(binding, node, chat_app(auth=False), scenario)


def test_a_read_only_ui_cannot_act(binding: str, node: str) -> None:
    async def scenario(scene: Scene) -> None:
        ann = await scene.chat("ann")
        a = ann.sids["/"]
        admin = await scene.admin()
        await admin.connected()
        [config] = await admin.wait_event("config", ADMIN)
        assert config["supportedFeatures"] == ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        await admin.emit("join", "/", "vip", a, nsp=ADMIN)
        await admin.emit("emit", "/", a, "hello", nsp=ADMIN)
        await admin.emit("_disconnect", "/", True, nsp=ADMIN)
        await fence(admin)
        assert await ann.call1("rooms") == [a]
        assert ann.events("hello") == [] and ann.find("disconnect") == []
        assert told(admin, "room_joined")[-1][:-1] != ["/", "vip", a]

    run(binding, node, chat_app(auth=False, read_only=True), scenario)


def test_bad_input_from_an_admin_changes_nothing(binding: str, node: str) -> None:
    async def scenario(scene: Scene) -> None:
        ann = await scene.chat("ann")
        bob = await scene.chat("bob")
        a, b = ann.sids["/"], bob.sids["/"]
        admin = await scene.admin()
        await admin.connected()
        for event, args in (
            ("join", []),
            ("join", ["/nowhere", "r"]),
            ("join", ["/", ["r"]]),
            ("join", ["/", b, a]),  # another socket's id room
            ("leave", [{"nsp": "/"}, "r"]),
            ("_disconnect", ["/", "yes", a]),
            ("emit", ["/", a, "disconnect"]),
            ("emit", ["/", a, 42]),
            ("emit", ["/", None]),
            ("unknown", [1, 2]),
        ):
            await admin.emit(event, *args, nsp=ADMIN)
        await fence(admin)
        assert await ann.call1("rooms") == [a] and await bob.call1("rooms") == [b]
        assert ann.find("disconnect") == [] and ann.events("disconnect") == []
        assert admin.find("disconnect") == []

    run(binding, node, chat_app(auth=False), scenario)


def test_production_mode_reports_the_aggregates_only(binding: str, node: str) -> None:
    async def scenario(scene: Scene) -> None:
        admin = await scene.admin()
        await admin.connected()
        [config] = await admin.wait_event("config", ADMIN)
        assert config["supportedFeatures"] == [*ACTIONS, "AGGREGATED_EVENTS"]
        ann = await scene.chat("ann", ("polling", "websocket"))
        await ann.call1("join", "lobby")

        def counted() -> set[str]:
            return {
                event["type"]
                for [stats] in told(admin, "server_stats")
                for event in stats["aggregatedEvents"]
            }

        await admin.wait_until(
            lambda: {"rawConnection", "bytesIn", "bytesOut"} <= counted(), "the aggregates"
        )
        await fence(admin)
        kinds = {o["event"] for o in admin.find("event", nsp=ADMIN)}
        assert kinds == {"config", "server_stats"}

    run(binding, node, chat_app(auth=False, mode="production", server_stats_interval=0.2), scenario)


def test_an_upgrade_from_long_polling_is_reported(binding: str, node: str) -> None:
    async def scenario(scene: Scene) -> None:
        admin = await scene.admin()
        await admin.connected()
        ann = await scene.chat("ann", ("polling", "websocket"))
        a = ann.sids["/"]
        [connected, _] = await admin.wait_event("socket_connected", ADMIN, count=2)
        assert connected["id"] == a
        if connected["transport"] == "polling":  # the usual case: CONNECT before the upgrade
            [updated] = await admin.wait_event("socket_updated", ADMIN)
            assert updated == {"id": a, "nsp": "/", "transport": "websocket"}

    run(binding, node, chat_app(auth=False, server_stats_interval=0.2), scenario)
