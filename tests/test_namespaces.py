"""Namespaces: class-based handlers (ServerNamespace), dynamic namespaces (a pattern or a
function admits the children clients connect to), their cleanup once empty, the parent's
operator, and removing a namespace from the machine, the engine and the cluster."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from sansio_rooms import (
    ClusterMachine,
    Handlers,
    InvalidStateError,
    LocalProtocolError,
    ParentOperator,
    RoomEngine,
    ServerMachine,
    ServerNamespace,
    Socket,
    Subscribe,
    Unsubscribe,
    namespace_key,
)
from sansio_rooms._server import ConnectRequest

from ._memory_driver import Client, Driver, Gate
from ._server_helpers import Client as MachineClient
from ._server_helpers import server_machine

INVALID = '{"message":"Invalid namespace"}'
TEAMS = re.compile(r"/team-\d+")


def invalid(nsp: str) -> str:
    return f"44{nsp},{INVALID}"


# -- namespace keys and the handler registry -----------------------------------------------------


def test_namespace_keys() -> None:
    def admit(name: str, auth: Any) -> bool:
        return True

    assert namespace_key("chat") == "/chat" and namespace_key("/") == "/"
    assert namespace_key(TEAMS) is TEAMS
    assert namespace_key(admit) is admit
    with pytest.raises(LocalProtocolError) as raised:
        namespace_key(re.compile(rb"/team"))
    assert str(raised.value) == "a namespace pattern matches str, not bytes"
    with pytest.raises(LocalProtocolError):
        namespace_key(42)


def test_the_registry_of_dynamic_namespaces() -> None:
    handlers = Handlers()

    def admit(name: str, auth: Any) -> bool:
        return True

    def chat() -> None: ...

    def middleware(socket: Any) -> None: ...

    handlers.on("chat", TEAMS)(chat)
    handlers.on("other", TEAMS)(chat)  # registered once as a parent
    handlers.use(middleware, admit)
    handlers.on("chat", "/named")(chat)
    assert handlers.parents() == (TEAMS, admit)
    assert handlers.namespaces() == ("/named",)  # the names only
    assert handlers.get("/team-1", "chat") is None  # not adopted yet
    handlers.adopt("/team-1", TEAMS)
    handlers.adopt("/team-2", TEAMS)
    handlers.adopt("/x", admit)
    assert handlers.parent_of("/team-1") is TEAMS and handlers.parent_of("/named") is None
    assert handlers.children_of(TEAMS) == ("/team-1", "/team-2")
    assert handlers.children_of(admit) == ("/x",)
    assert handlers.get("/team-1", "chat") is chat
    assert handlers.for_event("/team-2", "other") == (chat, False)
    assert handlers.middleware("/x") == [middleware] and handlers.middleware("/team-1") == []
    handlers.forget("/team-1")
    handlers.forget("/never-adopted")
    assert handlers.parent_of("/team-1") is None and handlers.get("/team-1", "chat") is None
    assert handlers.children_of(TEAMS) == ("/team-2",)


# -- class-based namespaces ----------------------------------------------------------------------


class Chat(ServerNamespace):
    def __init__(self, namespace: Any = "/chat") -> None:
        super().__init__(namespace)
        self.seen: list[Any] = []

    async def on_connect(self, socket: Socket, auth: Any) -> Any:
        self.seen.append(("connect", socket.nsp, auth))
        return auth.get("ok", True)

    async def on_message(self, socket: Socket, text: str) -> str:
        self.seen.append(("message", text))
        return text.upper()

    def on_disconnecting(self, socket: Socket, reason: str) -> None:
        self.seen.append(("disconnecting", reason, socket.sid in socket.rooms))

    def on_disconnect(self, socket: Socket, reason: str) -> None:
        self.seen.append(("disconnect", reason))

    on_not_a_method = "not callable"


def test_a_class_based_namespace() -> None:
    driver = Driver()
    chat = Chat("chat")
    assert chat.namespace == "/chat" and chat.server is None
    driver.register_namespace(chat)
    assert chat.server is driver and "/chat" in driver.machine.namespaces()
    assert driver.handlers.namespaces() == ("/chat",)
    client = Client(driver)
    assert client.connect("/chat", {"ok": False}) == '44/chat,{"message":"Not authorized"}'
    assert client.connect("/chat").startswith("40/chat,{")
    client.feed('42/chat,1["message","hi"]')
    assert client.texts("43") == ['43/chat,1["HI"]']  # the method's return is the ack
    client.feed('42/chat,["not_a_method"]')  # not callable: no handler
    client.feed('42/chat,["unknown"]')
    client.feed("41/chat,")
    assert chat.seen == [
        ("connect", "/chat", {"ok": False}),
        ("connect", "/chat", {}),
        ("message", "hi"),
        ("disconnecting", "client namespace disconnect", True),
        ("disconnect", "client namespace disconnect"),
    ]


def test_the_default_trigger_event() -> None:
    chat = Chat()
    assert chat.trigger_event("unknown", None) is None
    assert chat.trigger_event("disconnect", None, "why") is None  # the method ran
    assert chat.seen == [("disconnect", "why")]
    assert chat._handler("unknown") is None and chat._handler("not_a_method") is None
    assert ServerNamespace().namespace == "/"


def test_trigger_event_overridden_is_a_catch_all() -> None:
    seen: list[Any] = []

    class Everything(ServerNamespace):
        def trigger_event(self, event: str, socket: Any, *args: Any) -> Any:
            seen.append((event, *args))
            if event == "connect":
                return None
            return f"handled {event}"

    driver = Driver()
    driver.register_namespace(Everything("/all"))
    client = Client(driver)
    client.connect("/all")
    client.feed('42/all,7["anything",1,2]')
    assert client.texts("43") == ['43/all,7["handled anything"]']
    client.feed("41/all,")
    assert seen[0] == ("connect", {})
    assert ("anything", 1, 2) in seen
    assert seen[-2:] == [
        ("disconnecting", "client namespace disconnect"),
        ("disconnect", "client namespace disconnect"),
    ]


def test_function_handlers_win_over_methods_and_the_catch_all_is_theirs() -> None:
    driver = Driver()
    chat = Chat()
    driver.register_namespace(chat)
    seen: list[Any] = []
    driver.on("message", lambda socket, text: seen.append(("function", text)), namespace="chat")
    driver.on("*", lambda socket, event, *args: seen.append(("*", event)), namespace="/chat")
    client = Client(driver)
    client.connect("/chat")
    client.feed('42/chat,["message","hi"]')
    client.feed('42/chat,["unknown"]')
    client.feed('42/chat,["error"]')  # a server event from a client: the catch-all's
    assert seen == [("function", "hi"), ("*", "unknown"), ("*", "error")]
    assert ("message", "hi") not in chat.seen
    assert driver.handlers.get("/chat", "*") is not None


def test_registering_a_namespace_again_replaces_it() -> None:
    driver = Driver()
    first, second = Chat(), Chat()
    driver.register_namespace(first)
    driver.register_namespace(second)
    assert first.server is driver and second.server is driver
    Client(driver).connect("/chat")
    assert first.seen == [] and second.seen == [("connect", "/chat", {})]


def test_a_class_based_dynamic_namespace() -> None:
    driver = Driver()
    teams = Chat(TEAMS)
    driver.register_namespace(teams)
    assert driver.machine.dynamic_namespaces and driver.handlers.parents() == (TEAMS,)
    assert driver.handlers.namespaces() == ()
    client = Client(driver)
    assert client.connect("/team-3").startswith("40/team-3,{")
    client.feed('42/team-3,1["message","yo"]')
    assert client.texts("43") == ['43/team-3,1["YO"]']
    assert teams.seen == [("connect", "/team-3", {}), ("message", "yo")]
    assert client.connect("/other") == invalid("/other")


def test_only_a_server_namespace_instance_is_registered() -> None:
    driver = Driver()
    for wrong in (Chat, "/chat", object()):
        with pytest.raises(LocalProtocolError) as raised:
            driver.register_namespace(wrong)  # type: ignore[arg-type]
        assert str(raised.value) == f"register a ServerNamespace instance, not {wrong!r}"
    assert driver.machine.namespaces() == ("/",) and driver.handlers.namespaces() == ()


# -- dynamic namespaces --------------------------------------------------------------------------


def team_server(parent: Any = TEAMS, **options: Any) -> tuple[Driver, list[Any]]:
    """Handlers and a middleware registered for the dynamic namespace ``parent``."""
    driver = Driver(**options)
    seen: list[Any] = []
    driver.use(lambda socket: seen.append(("middleware", socket.nsp)), namespace=parent)

    @driver.on("connect", namespace=parent)
    def connect(socket: Socket, auth: Any) -> None:
        seen.append(("connect", socket.nsp, auth))
        socket.join("members")

    @driver.on("chat", namespace=parent)
    def chat(socket: Socket, text: str) -> str:
        seen.append(("chat", socket.nsp, text))
        return "ok"

    @driver.on("disconnect", namespace=parent)
    def disconnect(socket: Socket, reason: str) -> None:
        seen.append(("disconnect", socket.nsp, reason))

    return driver, seen


def admitting_all() -> tuple[Callable[[str, Any], bool], list[str]]:
    """A dynamic namespace's function that admits every name, and the names it is asked about."""
    asked: list[str] = []

    def admit(name: str, auth: Any) -> bool:
        asked.append(name)
        return True

    return admit, asked


def test_a_pattern_admits_the_children_it_matches_whole() -> None:
    driver, seen = team_server()
    assert driver.machine.dynamic_namespaces
    client = Client(driver)
    assert client.connect("/team-1", {"k": 1}).startswith("40/team-1,{")
    assert seen == [("middleware", "/team-1"), ("connect", "/team-1", {"k": 1})]
    assert driver.handlers.parent_of("/team-1") is TEAMS
    assert "/team-1" in driver.machine.namespaces()
    client.feed('42/team-1,3["chat","hi"]')
    assert client.texts("43") == ['43/team-1,3["ok"]']
    seen.clear()
    for name in ("/team-1x", "/xteam-1", "/team-"):  # fullmatch, not match or search
        assert client.connect(name) == invalid(name)
        assert name not in driver.machine.namespaces()  # created for the CONNECT, removed
        assert name not in driver.machine.created_namespaces
    assert seen == []  # the parent's middleware never ran for them


def test_without_a_dynamic_namespace_an_unknown_one_is_invalid() -> None:
    driver = Driver()
    assert not driver.machine.dynamic_namespaces
    assert Client(driver).connect("/nowhere") == invalid("/nowhere")
    assert driver.machine.namespaces() == ("/",)


def test_children_have_rooms_of_their_own() -> None:
    driver, _seen = team_server()
    one, two, other = Client(driver), Client(driver), Client(driver)
    one.connect("/team-1")
    two.connect("/team-1")
    other.connect("/team-2")
    driver.start(driver.of("/team-1").to("members").emit("news", 1))
    assert one.texts() == ['42/team-1,["news",1]'] and two.texts() == one.texts()
    assert other.texts() == []
    assert driver.handlers.children_of(TEAMS) == ("/team-1", "/team-2")


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_function_admits_children(asynchronous: bool) -> None:
    asked: list[Any] = []

    def admit(name: str, auth: Any) -> bool:
        asked.append((name, auth))
        return bool(name.startswith("/room-") and auth.get("key") == "k")

    async def admit_later(name: str, auth: Any) -> bool:
        return admit(name, auth)

    parent = admit_later if asynchronous else admit
    driver, _seen = team_server(parent)
    client = Client(driver)
    assert client.connect("/room-1", {"key": "k"}).startswith("40/room-1,{")
    assert client.connect("/room-2", {"key": "bad"}) == invalid("/room-2")
    assert asked == [("/room-1", {"key": "k"}), ("/room-2", {"key": "bad"})]
    assert driver.handlers.parent_of("/room-1") is parent
    # Once admitted, a child is not asked about again.
    Client(driver).connect("/room-1", {"key": "bad"})
    assert len(asked) == 2
    assert isinstance(driver.of(parent), ParentOperator)


def test_a_failing_function_refuses_and_the_next_parent_is_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(name: str, auth: Any) -> bool:
        raise RuntimeError("bug")

    driver, seen = team_server(broken)
    driver.on("connect", lambda socket, auth: seen.append(("pattern", socket.nsp)), TEAMS)
    client = Client(driver)
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        assert client.connect("/x") == invalid("/x")
        assert client.connect("/team-3").startswith("40/team-3,{")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"the dynamic namespace {broken!r} failed for /x: refused",
        f"the dynamic namespace {broken!r} failed for /team-3: refused",
    ]
    assert all(r.exc_info is not None for r in caplog.records)
    assert seen == [("pattern", "/team-3")]
    assert driver.handlers.parent_of("/team-3") is TEAMS


def test_the_first_parent_registered_wins() -> None:
    driver = Driver()
    seen: list[str] = []
    driver.on("connect", lambda socket, auth: seen.append("digits"), re.compile(r"/\d+"))
    driver.on("connect", lambda socket, auth: seen.append("any"), re.compile(r"/.*"))
    Client(driver).connect("/42")
    Client(driver).connect("/abc")
    assert seen == ["digits", "any"]


def test_explicit_handlers_for_a_child_name_win() -> None:
    driver, seen = team_server()
    driver.on("connect", lambda socket, auth: seen.append(("own", socket.nsp)), "/team-7")
    Client(driver).connect("/team-7")
    assert seen == [("own", "/team-7")]  # a named namespace: the parent is not asked
    assert driver.handlers.parent_of("/team-7") is None


def test_explicit_handlers_registered_after_a_child_was_admitted_win() -> None:
    driver, seen = team_server()
    Client(driver).connect("/team-7")
    seen.clear()
    driver.on("connect", lambda socket, auth: seen.append(("own", socket.nsp)), "/team-7")
    Client(driver).connect("/team-7")
    assert seen == [("own", "/team-7")]


def test_two_clients_racing_to_a_new_child() -> None:
    gate = Gate()
    asked: list[str] = []

    async def admit(name: str, auth: Any) -> bool:
        asked.append(name)
        await gate
        return True

    driver, seen = team_server(admit)
    first, second = Client(driver), Client(driver)
    first.send_connect("/new")
    second.send_connect("/new")
    assert gate.waiting == 2 and first.texts("4") == [] and second.texts("4") == []
    gate.open()
    driver.settle()
    assert first.reply("/new").startswith("40/new,{")
    assert second.reply("/new").startswith("40/new,{")
    assert driver.handlers.children_of(admit) == ("/new",)
    assert driver.machine.engine.namespace("/new").count_sockets() == 2
    assert [entry for entry in seen if entry[0] == "connect"] == [
        ("connect", "/new", {}),
        ("connect", "/new", {}),
    ]


def test_two_clients_racing_to_a_child_nobody_admits() -> None:
    gates = [Gate(), Gate()]
    calls = iter(gates)

    async def refuse(name: str, auth: Any) -> bool:
        await next(calls)
        return False

    driver, _seen = team_server(refuse)
    first, second = Client(driver), Client(driver)
    first.send_connect("/new")
    second.send_connect("/new")
    gates[0].open()
    driver.settle()
    assert first.reply("/new") == invalid("/new")
    assert "/new" in driver.machine.namespaces()  # the second is still pending there
    gates[1].open()
    driver.settle()
    assert second.reply("/new") == invalid("/new")
    assert "/new" not in driver.machine.namespaces()
    assert driver.machine.created_namespaces == set()


def test_children_stay_once_empty_by_default() -> None:
    admit, asked = admitting_all()
    driver, _seen = team_server(admit)
    client = Client(driver)
    client.connect("/kept")
    client.feed("41/kept,")
    assert "/kept" in driver.machine.namespaces()
    assert driver.handlers.parent_of("/kept") is admit
    assert Client(driver).connect("/kept").startswith("40/kept,{")
    assert asked == ["/kept"]  # admitted once


def test_children_are_removed_once_empty_with_cleanup() -> None:
    admit, asked = admitting_all()
    driver, _seen = team_server(admit, cleanup_empty_child_namespaces=True)
    assert driver.cleanup_empty_child_namespaces
    one, two = Client(driver), Client(driver)
    one.connect("/temp")
    two.connect("/temp")
    one.feed("41/temp,")
    assert "/temp" in driver.machine.namespaces()  # one socket is left
    two.leave()
    assert "/temp" not in driver.machine.namespaces()
    assert "/temp" not in driver.machine.created_namespaces
    assert driver.handlers.parent_of("/temp") is None
    assert "/temp" not in driver.machine.engine.namespaces()
    assert Client(driver).connect("/temp").startswith("40/temp,{")
    assert asked == ["/temp", "/temp"]  # a new child: asked again


def test_the_last_socket_of_a_child_removed_gets_its_disconnect_handler() -> None:
    driver, seen = team_server(cleanup_empty_child_namespaces=True)
    client = Client(driver)
    client.connect("/team-5")
    client.feed("41/team-5,")
    assert ("disconnect", "/team-5", "client namespace disconnect") in seen
    assert "/team-5" not in driver.machine.engine.namespaces()


def test_a_child_used_through_of_is_still_removed_once_empty() -> None:
    driver, _seen = team_server(cleanup_empty_child_namespaces=True)

    @driver.on("shout", namespace=TEAMS)
    async def shout(socket: Socket, text: str) -> None:
        await driver.of(socket.nsp).emit("shouted", text)  # the child's operator

    client = Client(driver)
    client.connect("/team-6")
    client.feed('42/team-6,["shout","hey"]')
    assert client.texts() == ['42/team-6,["shouted","hey"]']
    client.leave()
    assert "/team-6" not in driver.machine.namespaces()


def test_named_namespaces_are_never_removed() -> None:
    driver = Driver(cleanup_empty_child_namespaces=True)
    driver.on("connect", lambda socket, auth: None, namespace="/named")
    client = Client(driver)
    client.connect("/named")
    client.feed("41/named,")
    assert "/named" in driver.machine.namespaces()


@pytest.mark.parametrize("cleanup", [False, True])
def test_a_client_leaving_while_its_connect_is_pending(cleanup: bool) -> None:
    gate = Gate()
    driver = Driver(cleanup_empty_child_namespaces=cleanup)
    seen: list[Any] = []

    async def slow(socket: Socket) -> None:
        await gate

    driver.use(slow, namespace=TEAMS)
    driver.on("connect", lambda socket, auth: seen.append(("connect", socket.nsp)), TEAMS)
    driver.on("disconnect", lambda socket, why: seen.append(("disconnect", why)), TEAMS)
    client = Client(driver)
    client.send_connect("/team-9")
    assert gate.waiting == 1
    client.leave()
    gate.open()
    driver.settle()
    # The application saw it connect (its connect handler ran): it sees it disconnect.
    assert seen == [("connect", "/team-9"), ("disconnect", "transport close")]
    assert client.texts("40/") == [] and driver._sockets == {} and driver._connecting == {}
    assert ("/team-9" in driver.machine.namespaces()) is not cleanup


def test_a_client_leaving_before_its_connect_was_looked_at() -> None:
    admit, asked = admitting_all()
    driver, seen = team_server(admit)
    client = Client(driver)
    # The CONNECT and the end of the connection in one go: its task had not run yet.
    driver._websocket_message(client, "40/team-4,")
    driver._websocket_closed(client)
    driver.settle()
    assert asked == [] and seen == [] and driver._sockets == {}
    assert "/team-4" not in driver.machine.namespaces()  # nobody admitted it: removed


def test_a_pending_child_of_a_refused_client_goes_with_the_client_leaving() -> None:
    gate = Gate()

    async def admit(name: str, auth: Any) -> bool:
        await gate
        return False

    driver, seen = team_server(admit)
    client = Client(driver)
    client.send_connect("/late")
    client.leave()
    gate.open()
    driver.settle()
    assert "/late" not in driver.machine.namespaces() and seen == []


# -- the parent's operator -----------------------------------------------------------------------


def test_the_operator_of_a_dynamic_namespace_acts_in_each_child() -> None:
    driver, _seen = team_server()
    parent = driver.of(TEAMS)
    assert isinstance(parent, ParentOperator) and parent.children() == ()
    a, b, c = Client(driver), Client(driver), Client(driver)
    a.connect("/team-1")
    b.connect("/team-2")
    c.connect("/team-2")
    assert parent.children() == ("/team-1", "/team-2")
    driver.start(parent.emit("all", 1))
    assert a.texts() == ['42/team-1,["all",1]'] and b.texts() == ['42/team-2,["all",1]']
    socket_b = driver.get_socket(b.sids["/team-2"], "/team-2")
    assert socket_b is not None
    socket_b.join("vip")
    driver.start(parent.to("vip").compress(False).volatile.local.emit("vip only"))
    driver.start(parent.in_("members").except_("vip").emit("not vip"))
    assert b.texts()[1:] == ['42/team-2,["vip only"]']
    assert c.texts()[1:] == ['42/team-2,["not vip"]']
    assert a.texts()[1:] == ['42/team-1,["not vip"]']
    found = driver.start(parent.fetch_sockets())()
    assert sorted((s.nsp, s.sid) for s in found) == sorted(
        [
            ("/team-1", a.sids["/team-1"]),
            ("/team-2", b.sids["/team-2"]),
            ("/team-2", c.sids["/team-2"]),
        ]
    )
    driver.start(parent.to("vip").sockets_join("gold"))
    assert driver.start(parent.in_("gold").fetch_sockets())() == [socket_b]
    driver.start(parent.sockets_leave("gold"))
    assert driver.start(parent.in_("gold").fetch_sockets())() == []
    driver.start(parent.except_("vip").disconnect_sockets())
    assert a.texts("41") == ["41/team-1,"] and c.texts("41") == ["41/team-2,"]
    assert b.texts("41") == []
    driver.start(parent.disconnect_sockets(close=True))
    assert b.closed


# -- removing a namespace: machine, engine, cluster ----------------------------------------------


def test_the_machine_creates_namespaces_for_connects_when_dynamic() -> None:
    machine = server_machine()
    machine.dynamic_namespaces = True
    client = MachineClient(machine, "ws")
    (request,) = [o for o in client.emit("0/new,") if type(o) is ConnectRequest]
    assert request.nsp == "/new" and "/new" in machine.namespaces()
    assert machine.created_namespaces == {"/new"}
    with pytest.raises(InvalidStateError) as raised:
        machine.remove_namespace("/new")  # a pending socket
    assert str(raised.value) == "namespace '/new' still has sockets"
    machine.accept("/new", request.sid)
    with pytest.raises(InvalidStateError):
        machine.remove_namespace("new")  # a connected one
    machine.add_namespace("/new")  # registered by name now: not a created one any more
    assert machine.created_namespaces == set()


def test_removing_a_namespace_from_the_machine() -> None:
    machine = server_machine()
    machine.remove_namespace("/chat")
    machine.remove_namespace("/never-there")  # nothing to do
    assert machine.namespaces() == ("/",)
    assert "/chat" not in machine.engine.namespaces()
    client = MachineClient(machine, "ws")
    outputs = client.emit("0/chat,")
    assert not any(type(o) is ConnectRequest for o in outputs)
    assert any(getattr(o, "frames", None) == (f"44/chat,{INVALID}",) for o in outputs)


def test_removing_a_namespace_from_the_engine() -> None:
    engine = RoomEngine()
    engine.namespace("/a").connect("s1")
    engine.namespace("/b")
    with pytest.raises(InvalidStateError) as raised:
        engine.remove_namespace("a")
    assert str(raised.value) == "namespace '/a' still has sockets"
    engine.remove_namespace("/b")
    engine.remove_namespace("/unknown")
    assert engine.namespaces() == ("/a",)


def test_a_pending_socket_keeps_its_engine_namespace() -> None:
    engine = RoomEngine()
    engine.namespace("/a").connect("s1", pending=True)
    with pytest.raises(InvalidStateError):
        engine.remove_namespace("/a")


#: What a (not sharded) cluster node ``me`` listens to for ``/team-1``.
TEAM_1_CHANNELS: dict[str, Any] = {
    "channels": (
        "socket.io-request#/team-1#",
        "socket.io-response#/team-1#",
        "socket.io-response#/team-1#me#",
    ),
    "patterns": ("socket.io#/team-1#*",),
}


def test_the_cluster_unsubscribes_from_a_removed_namespace() -> None:
    cluster = ClusterMachine(ServerMachine(), uid="me")
    cluster.add_namespace("/team-1")
    assert cluster.remove_namespace("/unknown") == []
    assert cluster.remove_namespace("team-1") == [Unsubscribe(**TEAM_1_CHANNELS)]
    assert cluster.remove_namespace("/team-1") == []  # once
    assert cluster.add_namespace("/team-1") != []  # it may come back


def test_the_sharded_cluster_unsubscribes_from_a_removed_namespace_and_its_rooms() -> None:
    server = ServerMachine()
    server.add_namespace("/team-1")
    server.engine.namespace("/team-1").connect("s1")
    server.engine.namespace("/team-1").join("s1", "room")
    cluster = ClusterMachine(server, sharded=True, uid="me")
    assert cluster.subscriptions() != []
    server.engine.namespace("/team-1").disconnect("s1")
    assert cluster.remove_namespace("/team-1") == [
        Unsubscribe(
            channels=(
                "socket.io#/team-1#",
                "socket.io#/team-1#me#",
                "socket.io#/team-1#s1#",  # not a socket id to a publisher: a room channel
                "socket.io#/team-1#room#",
            ),
            sharded=True,
        )
    ]


class FakeAdapter:
    """A cluster adapter that records what the driver asks of it."""

    def __init__(self, **options: Any) -> None:
        self.options: Mapping[str, Any] = {"uid": "me", **options}
        self.subscriptions: list[Subscribe | Unsubscribe] = []
        self.published: list[Any] = []

    def publish(self, output: Any) -> None:
        self.published.append(output)

    def subscribe(self, output: Subscribe | Unsubscribe) -> None:
        self.subscriptions.append(output)

    async def server_count(self, channel: str, sharded: bool) -> int:
        return 1


def test_a_cluster_follows_the_children() -> None:
    adapter = FakeAdapter()
    driver, _seen = team_server(adapter=adapter, cleanup_empty_child_namespaces=True)
    adapter.subscriptions.clear()
    client = Client(driver)
    assert client.connect("/team-1").startswith("40/team-1,{")
    assert adapter.subscriptions == [Subscribe(**TEAM_1_CHANNELS)]
    client.connect("/nobody-admits")  # not admitted: never subscribed
    assert len(adapter.subscriptions) == 1
    client.feed("41/team-1,")
    assert adapter.subscriptions[1:] == [Unsubscribe(**TEAM_1_CHANNELS)]


def test_a_cluster_keeps_the_children_without_cleanup() -> None:
    adapter = FakeAdapter()
    driver, _seen = team_server(adapter=adapter)
    client = Client(driver)
    client.connect("/team-1")
    client.feed("41/team-1,")
    assert not any(isinstance(s, Unsubscribe) for s in adapter.subscriptions)
