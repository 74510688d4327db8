"""Connection state recovery as the application sees it (the driver, on a hand-driven server):
``socket.recovered``, the namespace's middleware skipped for a recovered socket unless told
otherwise, its connect handler run, and why a recovery failed in the logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from sansio_rooms import ConnectionStateRecovery, Socket

from ._memory_driver import Client, Driver


def recovering_driver(**options: Any) -> tuple[Driver, list[str]]:
    """A server with recovery on, a middleware and a connect handler that log their calls."""
    driver = Driver(
        connection_state_recovery=ConnectionStateRecovery(
            max_disconnection_duration=60.0, **options
        )
    )
    calls: list[str] = []

    def middleware(socket: Socket) -> None:
        calls.append(f"middleware recovered={socket.recovered}")

    def connect(socket: Socket, auth: Any) -> None:
        calls.append(f"connect recovered={socket.recovered}")
        socket.data.setdefault("visits", 0)
        socket.data["visits"] += 1
        socket.join("lobby")

    driver.use(middleware)
    driver.on("connect", connect)
    return driver, calls


def dropped(driver: Driver) -> tuple[str, str, str]:
    """A client that connects, receives one kept broadcast, then loses its connection: its
    sid, pid and offset."""
    client = Client(driver)
    reply = client.connect()
    body = json.loads(reply[2:])
    driver.start(driver.emit("news"))
    (frame,) = [f for f in client.texts() if "news" in f]
    offset = json.loads(frame[2:])[-1]
    client.leave()
    return body["sid"], body["pid"], offset


@pytest.mark.parametrize("skip", [True, False])
def test_a_recovered_socket_skips_the_middleware_unless_told_not_to(skip: bool) -> None:
    driver, calls = recovering_driver(skip_middlewares=skip)
    sid, pid, offset = dropped(driver)
    assert calls == ["middleware recovered=False", "connect recovered=False"]
    calls.clear()
    client = Client(driver)
    reply = client.connect(auth={"pid": pid, "offset": offset})
    assert json.loads(reply[2:]) == {"sid": sid, "pid": pid}
    expected = [] if skip else ["middleware recovered=True"]
    assert calls == [*expected, "connect recovered=True"]
    socket = driver.get_socket(sid)
    assert socket is not None and socket.recovered
    assert socket.data == {"visits": 2}  # restored, then counted again by the handler
    assert socket.rooms == {sid, "lobby"}


def test_why_a_recovery_failed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    driver, _ = recovering_driver()
    sid, pid, _ = dropped(driver)
    client = Client(driver)
    with caplog.at_level(logging.INFO, logger="sansio_rooms"):
        reply = client.connect(auth={"pid": pid, "offset": "not-an-offset"})
    new_sid = json.loads(reply[2:])["sid"]
    assert new_sid != sid
    socket = driver.get_socket(new_sid)
    assert socket is not None and not socket.recovered and socket.data == {"visits": 1}
    (record,) = [r for r in caplog.records if "connection state recovery" in r.getMessage()]
    assert "is not in the log" in record.getMessage() and new_sid in record.getMessage()
