"""A dynamic namespace's operator (Node's ``ParentNamespace``): ``server.of(pattern)`` acts in
every child there is, with the same selection."""

from __future__ import annotations

import json
import re

import pytest

from sansio_rooms import ParentOperator, Socket

from ._memory_driver import Client, Driver

TEAMS = re.compile(r"/team-\d+")


def connect(driver: Driver, nsp: str) -> Client:
    client = Client(driver)
    client.connect(nsp)
    return client


def events(client: Client, nsp: str) -> list[list[object]]:
    prefix = f"42{nsp},"
    return [json.loads(f[len(prefix) :]) for f in client.texts(prefix)]


def teams() -> tuple[Driver, dict[str, Client]]:
    driver = Driver()

    @driver.on("connect", namespace=TEAMS)
    def connect_team(socket: Socket, auth: object) -> None:
        if isinstance(auth, dict) and auth.get("admin"):
            socket.join("admins")

    clients = {
        "one": connect(driver, "/team-1"),
        "two": connect(driver, "/team-2"),
        "other": connect(driver, "/team-3"),
    }
    admin = Client(driver)
    admin.feed('40/team-2,{"admin":true}')
    clients["admin"] = admin
    driver.settle()
    return driver, clients


def test_the_parent_emits_in_every_child_with_the_same_selection() -> None:
    driver, clients = teams()
    parent = driver.of(TEAMS)
    assert isinstance(parent, ParentOperator)
    assert parent.children() == ("/team-1", "/team-2", "/team-3")
    driver.start(parent.emit("news", 1))
    assert events(clients["one"], "/team-1") == [["news", 1]]
    assert events(clients["other"], "/team-3") == [["news", 1]]
    driver.start(parent.to("admins").emit("secret"))
    assert events(clients["admin"], "/team-2") == [["news", 1], ["secret"]]
    assert events(clients["two"], "/team-2") == [["news", 1]]
    driver.start(parent.except_("admins").volatile.local.compress(False).emit("plain"))
    assert events(clients["admin"], "/team-2") == [["news", 1], ["secret"]]
    assert events(clients["two"], "/team-2") == [["news", 1], ["plain"]]
    driver.start(parent.in_("nobody-here").emit("lost"))
    assert events(clients["one"], "/team-1") == [["news", 1], ["plain"]]


def test_the_parent_joins_leaves_fetches_and_disconnects_in_every_child() -> None:
    driver, clients = teams()
    parent = driver.of(TEAMS)
    driver.start(parent.sockets_join("all"))
    fetched = driver.start(parent.in_("all").fetch_sockets())()
    assert sorted(s.nsp for s in fetched) == ["/team-1", "/team-2", "/team-2", "/team-3"]
    driver.start(parent.sockets_leave("all"))
    assert driver.start(parent.in_("all").fetch_sockets())() == []
    driver.start(parent.in_("admins").disconnect_sockets())
    assert clients["admin"].texts("41/team-2,") == ["41/team-2,"]
    assert clients["two"].texts("41") == []


def test_a_parent_of_no_children_does_nothing() -> None:
    driver = Driver()
    driver.on("connect", namespace=lambda name, auth: name == "/x")(lambda s, a: None)
    parent = driver.of(lambda name, auth: True)  # not the function registered: no children
    assert parent.children() == ()
    driver.start(parent.emit("nothing"))
    assert driver.start(parent.fetch_sockets())() == []


@pytest.mark.parametrize("name", ["/team-1"])
def test_a_child_is_a_namespace_of_its_own(name: str) -> None:
    driver, clients = teams()
    driver.start(driver.of(name).emit("only", "one"))
    assert events(clients["one"], name) == [["only", "one"]]
    assert events(clients["two"], "/team-2") == []
