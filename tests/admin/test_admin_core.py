"""``server.instrument()`` on a server driven by hand (tests/_memory_driver.py): every message
of the Admin UI protocol, every option, every refusal, without an event loop or a network.
tests/admin/test_admin_ui.py runs the same protocol on the bindings with the official client."""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from typing import Any

import bcrypt
import pytest

from sansio_rooms import AdminUI, HttpRequest, HttpResponse, LocalProtocolError, Socket
from sansio_rooms import _admin as admin_module
from sansio_rooms._admin import _plain, _timestamp

from .._memory_driver import WALL_TIME, Client, Driver

ADMIN = "/admin"
FEATURES = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
NOW = _timestamp(WALL_TIME)


class _Yield:
    def __await__(self) -> Generator[None, None, None]:
        yield


class AdminDriver(Driver):
    """The memory driver, whose sleep waits for the test's clock (the stats' interval)."""

    async def _sleep(self, seconds: float) -> None:
        until = self.clock + seconds
        while self.clock < until:
            await _Yield()


def events(client: Client, nsp: str = ADMIN) -> list[list[Any]]:
    """What ``client`` received in ``nsp``: ``[event, *args]`` each."""
    prefix = "42[" if nsp == "/" else f"42{nsp},["
    return [json.loads(f[len(prefix) - 1 :]) for f in client.frames if str(f).startswith(prefix)]


def named(client: Client, event: str, nsp: str = ADMIN) -> list[list[Any]]:
    """The arguments of each ``event`` ``client`` received in ``nsp``."""
    return [e[1:] for e in events(client, nsp) if e[0] == event]


def chat_server(**options: Any) -> tuple[AdminDriver, AdminUI]:
    driver = AdminDriver()

    @driver.on("join")
    def join(socket: Socket, room: str) -> None:
        socket.join(room)

    @driver.on("say")
    async def say(socket: Socket, room: str, text: str) -> None:
        await socket.to(room).emit("said", text)

    options.setdefault("auth", False)
    return driver, driver.instrument(**options)


def admin_of(driver: Driver, auth: Any = None) -> Client:
    admin = Client(driver)
    assert admin.connect(ADMIN, auth).startswith("40/admin,")
    return admin


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs auth"),
        ({"auth": True}, "invalid auth True"),
        ({"auth": "secret"}, "invalid auth"),
        ({"auth": []}, "invalid auth"),
        ({"auth": [{"username": "a"}, "b"]}, "invalid auth"),
        ({"auth": {"type": "digest", "username": "a", "password": "b"}}, "must be"),
        ({"auth": {"type": "basic", "username": 1, "password": "b"}}, "must be"),
        ({"auth": {"type": "basic", "username": "a", "password": "plain"}}, "bcrypt hash"),
        ({"auth": False, "mode": "debug"}, "mode is"),
        ({"auth": False, "read_only": 1}, "read_only is a bool"),
        ({"auth": False, "server_stats_interval": 0}, "seconds > 0"),
        ({"auth": False, "server_stats_interval": "2"}, "seconds > 0"),
        ({"auth": False, "server_id": 7}, "server_id is a str"),
    ],
)
def test_bad_options_are_refused_and_leave_the_server_alone(
    options: dict[str, Any], message: str
) -> None:
    driver = Driver()
    with pytest.raises(LocalProtocolError, match=message):
        driver.instrument(**options)
    assert ADMIN not in driver.machine.namespaces()
    assert driver._dispatch is type(driver)._dispatch  # nothing observed


def test_the_options_are_kept_and_a_server_is_instrumented_once() -> None:
    driver = Driver()
    ui = driver.instrument(
        auth=False, mode="production", read_only=True, namespace_name="ops", server_id="s1"
    )
    assert (ui.namespace_name, ui.mode, ui.read_only) == ("/ops", "production", True)
    assert ui.server_id == "s1"
    assert ui.server_stats_interval == 2.0 and ui.hostname and ui.pid
    assert repr(ui) == "<AdminUI /ops production read-only>"
    assert "/ops" in driver.machine.namespaces()
    with pytest.raises(LocalProtocolError, match="instrumented already"):
        driver.instrument(auth=False)
    assert repr(Driver().instrument(auth=False)) == "<AdminUI /admin development>"


def test_helpers() -> None:
    assert _timestamp(0.25) == "1970-01-01T00:00:00.250Z"
    cycle: dict[str, Any] = {}
    cycle["me"] = cycle
    assert _plain(cycle) == {}
    assert _plain({"n": 1, "b": b"x", (1, 2): "skipped"}) == {"n": 1, "b": "b'x'"}


# -- who may connect -----------------------------------------------------------------------


def refused(driver: Driver, auth: Any) -> bool:
    reply = Client(driver).connect(ADMIN, auth)
    if reply.startswith("44"):
        assert reply == '44/admin,{"message":"invalid credentials"}'
        return True
    return False


def test_basic_auth_with_a_bcrypt_hash_and_its_sessions(caplog: pytest.LogCaptureFixture) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    driver, _ = chat_server(auth={"type": "basic", "username": "admin", "password": hashed})
    with caplog.at_level(logging.WARNING, logger="sansio_rooms.admin"):
        for auth in (
            None,  # (the CONNECT payload is an object or nothing: the protocol says so)
            {"username": "admin"},
            {"username": "admin", "password": 1},
            {"username": "root", "password": "s3cret"},
            {"username": "admin", "password": "wrong"},
            {"username": "admin", "password": "x" * 100},  # over bcrypt's 72 bytes
            {"sessionId": "made-up"},
            {"sessionId": 12},
        ):
            assert refused(driver, auth), auth
    assert caplog.text.count("invalid credentials") == 8
    admin = admin_of(driver, {"username": "admin", "password": "s3cret"})
    [[session]] = named(admin, "session")
    # After its own socket's (as to every admin), before the config.
    assert [e[0] for e in events(admin)][:4] == [
        "room_joined",
        "socket_connected",
        "session",
        "config",
    ]
    assert not refused(driver, {"sessionId": session})
    driver.clock = 0  # the sessions expire on the wall clock
    driver._wall_time = lambda: WALL_TIME + 24 * 3600 + 1  # type: ignore[method-assign]
    assert refused(driver, {"sessionId": session})


def test_the_oldest_session_is_forgotten_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_module, "MAX_SESSIONS", 2)
    driver, _ = chat_server(auth={"username": "a"})
    sessions = [named(admin_of(driver, {"username": "a"}), "session")[0][0] for _ in range(3)]
    assert refused(driver, {"sessionId": sessions[0]})
    assert not refused(driver, {"sessionId": sessions[1]})
    assert not refused(driver, {"sessionId": sessions[2]})


def test_credentials_that_are_not_an_object_are_refused() -> None:
    driver, ui = chat_server(auth={"username": "a"})
    outcome = driver.start(ui._credentials.admit(driver, ["a"]))
    assert outcome() is False


def test_python_socketio_credentials_and_functions() -> None:
    driver, _ = chat_server(auth={"username": "a", "password": "p", "level": 2})
    assert refused(driver, {"username": "a", "password": "p", "level": "2"})
    assert refused(driver, {"username": "a", "password": "q", "level": 2})
    assert not refused(driver, {"username": "a", "password": "p", "level": 2, "sessionId": None})

    driver, _ = chat_server(auth=({"username": "a", "password": "p"}, {"username": "b"}))
    assert not refused(driver, {"username": "b", "password": ""})
    assert refused(driver, {"username": "c"})

    driver, _ = chat_server(auth=lambda auth: auth == {"token": "t"})
    assert not refused(driver, {"token": "t"})
    assert refused(driver, {"token": "u"})

    async def checked(auth: Any) -> bool:
        return auth.get("token") == "t"

    driver, _ = chat_server(auth=checked)
    assert not refused(driver, {"token": "t"})
    assert refused(driver, {})

    def broken(auth: Any) -> bool:
        raise RuntimeError("bug")

    driver, _ = chat_server(auth=broken)
    assert refused(driver, {"token": "t"})  # an error of the function refuses (logged)


def test_anyone_may_connect_without_auth_and_gets_no_session() -> None:
    driver, _ = chat_server()
    admin = admin_of(driver, {"whatever": 1})
    assert named(admin, "session") == []


# -- what an admin is told -------------------------------------------------------------------


def test_a_new_admin_gets_the_config_every_socket_and_the_stats() -> None:
    driver, ui = chat_server(server_id="here")
    chat = Client(driver)
    chat.connect()
    chat.feed('42["join","lobby"]')
    driver.get_socket(chat.sid).data.update(name="ann", since=object())  # type: ignore[union-attr]
    admin = admin_of(driver)
    assert [e[0] for e in events(admin)] == [
        "room_joined",
        "socket_connected",
        "config",
        "all_sockets",
        "server_stats",
    ]
    [[config]] = named(admin, "config")
    assert config == {"supportedFeatures": [*FEATURES, "AGGREGATED_EVENTS", "ALL_EVENTS"]}
    [[sockets]] = named(admin, "all_sockets")
    by_id = {s["id"]: s for s in sockets}
    mine, theirs = by_id[admin.sids[ADMIN]], by_id[chat.sid]
    assert mine["nsp"] == ADMIN and mine["rooms"] == [admin.sids[ADMIN]]
    assert theirs["nsp"] == "/" and theirs["rooms"] == [chat.sid, "lobby"]
    assert theirs["transport"] == "websocket" and len(theirs["clientId"]) == 12
    assert theirs["data"]["name"] == "ann" and theirs["data"]["since"].startswith("<object")
    assert theirs["handshake"]["query"] == {"EIO": "4", "transport": "websocket"}
    assert theirs["handshake"]["issued"] == int(WALL_TIME * 1000)
    [[stats]] = named(admin, "server_stats")
    assert stats["serverId"] == "here" and stats["aggregatedEvents"] == []
    assert stats["clientsCount"] == 2 and stats["pollingClientsCount"] == 0
    assert {"name": "/", "socketsCount": 1} in stats["namespaces"]
    assert {"name": ADMIN, "socketsCount": 1} in stats["namespaces"]
    assert stats["namespaces"] == ui.stats(aggregated=False)["namespaces"]


def test_sockets_rooms_and_events_as_they_happen() -> None:
    driver, _ = chat_server()
    admin = admin_of(driver)
    admin.frames.clear()
    ann, bob = Client(driver), Client(driver)
    ann.connect()
    bob.connect()
    ann.feed('42["join","lobby"]')
    bob.feed('42["join","lobby"]')
    ann.feed('42["say","lobby","hi"]')
    driver.start(driver.emit("news", {"n": 1}))
    driver.start(driver.to("lobby").timeout(1).emit_with_ack("poll"))
    bob.feed("41")
    a, b = ann.sid, bob.sid
    told = events(admin)
    for index, sid in ((1, a), (3, b)):
        connected = told[index][1]
        assert connected["id"] == sid and connected["rooms"] == [sid] and connected["nsp"] == "/"
        told[index][1] = sid
    assert told == [
        ["room_joined", "/", a, a, NOW],
        ["socket_connected", a, NOW],
        ["room_joined", "/", b, b, NOW],
        ["socket_connected", b, NOW],
        ["event_received", "/", a, ["join", "lobby"], NOW],
        ["room_joined", "/", "lobby", a, NOW],
        ["event_received", "/", b, ["join", "lobby"], NOW],
        ["room_joined", "/", "lobby", b, NOW],
        ["event_received", "/", a, ["say", "lobby", "hi"], NOW],
        ["event_sent", "/", b, ["said", "hi"], NOW],  # not to the sender
        ["event_sent", "/", a, ["news", {"n": 1}], NOW],
        ["event_sent", "/", b, ["news", {"n": 1}], NOW],
        ["event_sent", "/", a, ["poll"], NOW],
        ["event_sent", "/", b, ["poll"], NOW],
        ["room_left", "/", b, b, NOW],
        ["room_left", "/", "lobby", b, NOW],
        ["socket_disconnected", "/", b, "client namespace disconnect", NOW],
    ]


def test_the_admin_namespace_is_not_reported_to_itself_as_events() -> None:
    driver, _ = chat_server()
    admin = admin_of(driver)
    other = admin_of(driver)
    admin.frames.clear()
    other.feed('42/admin,["anything",1]')
    driver.start(driver.of(ADMIN).emit("note"))
    assert [e[0] for e in events(admin)] == ["note"]


def test_stats_every_interval_with_the_counts_and_the_upgrades() -> None:
    driver, ui = chat_server(server_stats_interval=1)
    admin = admin_of(driver)
    chat = Client(driver)
    chat.connect()
    chat.feed('42["join","lobby"]')
    poller = _Request()
    query = {"EIO": "4", "transport": "polling"}
    driver._receive_request(HttpRequest(handle=poller, method="GET", query=query))
    query["sid"] = json.loads(poller.response.body[1:])["sid"]
    driver._receive_request(HttpRequest(handle=_Request(), method="POST", query=query, body=b"40"))
    driver.settle()
    driver._receive_request(HttpRequest(handle=_Request(), method="GET", query=query))
    polling_sid = driver.machine.engine.namespace("/").sockets()[-1]
    [connected] = [e for e in named(admin, "socket_connected") if e[0]["id"] == polling_sid]
    assert connected[0]["transport"] == "polling"
    chat.leave()
    admin.frames.clear()
    driver.advance(1)
    [[stats]] = named(admin, "server_stats")
    assert stats["clientsCount"] == 2 and stats["pollingClientsCount"] == 1
    counted = {(e["type"], e.get("subType")): e["count"] for e in stats["aggregatedEvents"]}
    assert counted[("rawConnection", None)] == 3
    assert counted[("rawDisconnection", "transport close")] == 1
    assert counted[("packetsIn", None)] >= 4 and counted[("bytesIn", None)] > 0
    assert counted[("packetsOut", None)] > 0 and counted[("bytesOut", None)] > 0
    ui.stats()  # takes what is counted (the stats just sent, for one)
    admin.feed('42/admin,["é"]')  # counted in UTF-8 bytes
    ui._on_http_response(HttpResponse(handle=None, status=200, headers=(), body=b""))  # nothing
    assert {e["type"]: e["count"] for e in ui.stats()["aggregatedEvents"]}["bytesIn"] == 15
    assert all(e["timestamp"] == int(WALL_TIME) * 1000 for e in stats["aggregatedEvents"])
    # The upgrade, seen at the next stats (the session moves to a WebSocket by hand here).
    session = driver.engineio._session(query["sid"])
    session.state = session.state.WEBSOCKET
    admin.frames.clear()
    driver.advance(1)
    assert named(admin, "socket_updated") == [
        [{"id": polling_sid, "nsp": "/", "transport": "websocket"}]
    ]
    assert named(admin, "server_stats")[0][0]["pollingClientsCount"] == 0
    admin.frames.clear()
    driver.advance(1)
    assert named(admin, "socket_updated") == []  # reported once
    admin.leave()  # nobody listens: the stats go on, unsent (in a cluster, they are sent)
    driver.advance(1)
    assert ui._reporting


class _Request:
    def __init__(self) -> None:
        self.response: Any = None

    def respond(self, response: Any) -> None:
        self.response = response


def test_production_mode_sends_the_stats_only() -> None:
    driver, _ = chat_server(mode="production")
    admin = admin_of(driver)
    chat = Client(driver)
    chat.connect()
    chat.feed('42["say","lobby","hi"]')
    chat.leave()
    assert [e[0] for e in events(admin)] == ["config", "server_stats"]
    assert named(admin, "config") == [[{"supportedFeatures": [*FEATURES, "AGGREGATED_EVENTS"]}]]
    assert not driver.machine.engine.notices  # no room notices needed


# -- what an admin may do -------------------------------------------------------------------


def test_the_actions_of_the_ui() -> None:
    driver, _ = chat_server()
    admin = admin_of(driver)
    ann, bob, cid = Client(driver), Client(driver), Client(driver)
    for client in (ann, bob, cid):
        client.connect()
    a, b, c = ann.sid, bob.sid, cid.sid

    def rooms(sid: str) -> set[Any]:
        socket = driver.get_socket(sid)
        return set() if socket is None else set(socket.rooms)

    admin.feed(f'42/admin,["join","/","vip","{a}"]')  # one socket (its id is a room)
    assert rooms(a) == {a, "vip"} and rooms(b) == {b}
    admin.feed('42/admin,["join","/","all"]')  # every socket of the namespace
    admin.feed('42/admin,["join","/",7,""]')
    assert all({"all", 7} <= rooms(sid) for sid in (a, b, c))
    admin.feed('42/admin,["leave","/","all","vip"]')  # the sockets of a room
    assert rooms(a) == {a, "vip", 7} and "all" in rooms(b)
    admin.feed('42/admin,["emit","/","vip","hello",1,{"x":2}]')
    admin.feed('42/admin,["emit","/",null,"everyone"]')
    assert ann.texts() == ['42["hello",1,{"x":2}]', '42["everyone"]']
    assert bob.texts() == ['42["everyone"]']
    admin.feed(f'42/admin,["_disconnect","/",false,"{b}"]')
    assert bob.texts("41") == ["41"] and not bob.closed and rooms(b) == set()
    admin.feed(f'42/admin,["_disconnect","/",true,"{c}"]')
    assert cid.closed
    admin.feed('42/admin,["_disconnect","/",false]')
    assert ann.texts("41") == ["41"]
    assert driver.machine.engine.namespace("/").sockets() == ()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ('["join"]', "wrong arguments"),
        ('["join","/","r","f","extra"]', "wrong arguments"),
        ('["join","/nowhere","r"]', "no namespace '/nowhere'"),
        ('["join",["/"],"r"]', "no namespace"),
        ('["join","/",["r"]]', "room name must be"),
        ('["join","/",null]', "room name must be"),
        ('["leave","/","r",{"f":1}]', "room name must be"),
        ('["join","/","{other}"]', "id room"),
        ('["_disconnect","/","yes"]', "close is true or false"),
        ('["_disconnect","/"]', "wrong arguments"),
        ('["emit","/",null,"connect"]', "not an event name"),
        ('["emit","/",null,5]', "not an event name"),
        ('["emit","/",null]', "wrong arguments"),
    ],
)
def test_bad_actions_are_refused_with_a_log_line_and_change_nothing(
    frame: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    driver, _ = chat_server()
    admin = admin_of(driver)
    chat, other = Client(driver), Client(driver)
    chat.connect()
    other.connect()
    before = driver.machine.engine.namespace("/").rooms()
    with caplog.at_level(logging.WARNING, logger="sansio_rooms.admin"):
        admin.feed("42/admin," + frame.replace("{other}", other.sid))
    assert reason in caplog.text and "refused" in caplog.text
    assert driver.machine.engine.namespace("/").rooms() == before
    assert chat.texts() == [] and not chat.closed
    assert driver.get_socket(admin.sids[ADMIN], ADMIN) is not None  # the admin stays too


def test_a_read_only_ui_offers_and_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    driver, _ = chat_server(read_only=True)
    admin = admin_of(driver)
    chat = Client(driver)
    chat.connect()
    assert named(admin, "config") == [[{"supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"]}]]
    with caplog.at_level(logging.WARNING, logger="sansio_rooms.admin"):
        admin.feed('42/admin,["join","/","vip"]')
        admin.feed('42/admin,["leave","/","{chat.sid}"]')
        admin.feed('42/admin,["emit","/",null,"hi"]')
        admin.feed('42/admin,["_disconnect","/",true]')
    assert caplog.text.count("read-only") == 4
    assert driver.get_socket(chat.sid) is not None and chat.texts() == [] and not chat.closed
    assert set(driver.get_socket(chat.sid).rooms) == {chat.sid}  # type: ignore[union-attr]


def test_an_uninstrumented_server_runs_the_class_code() -> None:
    driver = Driver()
    assert "_emit" not in vars(driver) and "_dispatch" not in vars(driver)
    driver.instrument(auth=False)
    assert {"_emit", "_dispatch", "_websocket_message", "_receive_request"} <= set(vars(driver))


async def _blocking_default() -> Any:
    return await Driver()._run_blocking(sum, (1, 2))


def test_blocking_work_runs_in_place_without_a_binding() -> None:
    coroutine = _blocking_default()
    with pytest.raises(StopIteration) as stopped:
        coroutine.send(None)
    assert stopped.value.value == 3
