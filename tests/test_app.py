"""The loop-agnostic pieces both bindings share: handlers, the selection, the refusal."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_rooms import (
    ASGIAppBase,
    ConnectionRefusedError,
    Handlers,
    LocalProtocolError,
    SansioRoomsError,
    Selection,
    parse_query,
)
from sansio_rooms._app import sender_selection


def test_handlers_per_namespace_with_a_catch_all() -> None:
    handlers = Handlers()

    @handlers.on("chat")
    def chat() -> None: ...

    @handlers.on("*", namespace="admin")
    def anything() -> None: ...

    @handlers.on("connect", namespace="admin")
    def connect() -> None: ...

    assert handlers.namespaces() == ("/", "/admin")
    assert handlers.get("/", "chat") is chat
    assert handlers.get("/admin", "connect") is connect
    assert handlers.get("/nowhere", "chat") is None
    assert handlers.for_event("/", "chat") == (chat, False)
    assert handlers.for_event("/", "other") == (None, False)
    assert handlers.for_event("/admin", "other") == (anything, True)
    assert handlers.for_event("/admin", 42) == (anything, True)  # numeric event names
    # A client cannot trigger the server's own events by emitting them.
    assert handlers.for_event("/admin", "connect") == (anything, True)
    assert handlers.for_event("/nowhere", "chat") == (None, False)


@pytest.mark.parametrize("event", ["", None, 3])
def test_handlers_refuse_bad_event_names(event: object) -> None:
    with pytest.raises(LocalProtocolError):
        Handlers().on(event)  # type: ignore[arg-type]


def test_handlers_refuse_what_cannot_be_called() -> None:
    with pytest.raises(LocalProtocolError):
        Handlers().on("chat")("not a function")  # type: ignore[type-var]


def test_selection_is_immutable_and_accumulates() -> None:
    base = Selection()
    room = base.to("a")
    both = room.in_(["b", "a"])
    assert base.rooms is None and room.rooms == ("a",) and both.rooms == ("a", "b")
    excluded = both.except_("c").except_(["d", "c"])
    assert excluded.except_rooms == ("c", "d") and both.except_rooms == ()
    flags = excluded.volatile.local.compress(False).timeout(1.5)
    assert (flags.volatile_flag, flags.local_flag, flags.compress_flag) == (True, True, False)
    assert flags.timeout_seconds == 1.5 and excluded.timeout_seconds is None
    assert flags.broadcast is flags
    assert flags.of("chat").nsp == "/chat" and flags.nsp == "/"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        base.nsp = "/x"  # type: ignore[misc]


def test_a_senders_selection_made_through_the_slots_is_the_selection() -> None:
    fast = sender_selection("/chat", "s1", ("a", 7))
    assert fast == Selection(nsp="/chat", sender="s1", rooms=("a", 7))
    assert repr(fast) == repr(Selection(nsp="/chat", sender="s1", rooms=("a", 7)))
    assert fast.to("b").rooms == ("a", 7, "b")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.rooms = ()  # type: ignore[misc]


@pytest.mark.parametrize("seconds", [-1, "1", None])
def test_selection_refuses_a_bad_timeout(seconds: object) -> None:
    with pytest.raises(LocalProtocolError):
        Selection().timeout(seconds)  # type: ignore[arg-type]


def test_connection_refused_error_carries_message_and_data() -> None:
    error = ConnectionRefusedError("no", {"retry": 5})
    assert (error.message, error.data, str(error)) == ("no", {"retry": 5}, "no")
    assert isinstance(error, SansioRoomsError)
    assert ConnectionRefusedError().message == "Not authorized"


def test_parse_query() -> None:
    assert parse_query(b"EIO=4&transport=polling&t=x") == {
        "EIO": "4",
        "transport": "polling",
        "t": "x",
    }
    assert parse_query("a=1&a=2&b=") == {"a": "2", "b": ""}
    assert parse_query(b"") == {}


@given(st.text(alphabet="ab=&%+;2 0é", max_size=30))
def test_parse_query_is_parse_qsl(query: str) -> None:
    """The split without unescaping is only a shortcut: the same dict as parse_qsl's."""
    try:
        expected = dict(parse_qsl(query, keep_blank_values=True))
    except UnicodeDecodeError:
        return
    assert parse_query(query) == expected


class _Server:
    """What the ASGI app asks of a server when a signal comes."""

    default_path = "socket.io"

    def __init__(self) -> None:
        self.shutdowns = 0
        self.then: list[Any] = []

    def _begin_shutdown_threadsafe(self, then: Any = None) -> None:
        self.shutdowns += 1
        if then is not None:
            self.then.append(then)


class _App(ASGIAppBase):
    async def _lifespan(self, scope: Any, receive: Any, send: Any) -> None: ...

    async def _start_lazily(self) -> None: ...

    async def _websocket(self, scope: Any, receive: Any, send: Any) -> None: ...

    def _pending_response(self) -> Any: ...

    async def _wait_for_response(self, pending: Any, receive: Any) -> None: ...

    async def _read_file(self, path: Any) -> bytes:
        return b""


def test_a_shutdown_signal_tells_the_clients_then_runs_the_previous_handler() -> None:
    seen: list[int] = []
    before = signal.signal(signal.SIGUSR1, lambda number, frame: seen.append(number))
    try:
        server = _Server()
        app = _App(server, shutdown_signals=(signal.SIGUSR1,))
        app._chain_signals()
        signal.raise_signal(signal.SIGUSR1)
        assert (server.shutdowns, seen) == (1, [signal.SIGUSR1])
        app._unchain_signals()
        signal.raise_signal(signal.SIGUSR1)  # ours is gone: only the previous one runs
        assert (server.shutdowns, seen) == (1, [signal.SIGUSR1, signal.SIGUSR1])
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        app._chain_signals()
        signal.raise_signal(signal.SIGUSR1)  # the previous one ignored it: so do we, after
        assert server.shutdowns == 2

        def theirs(number: int, frame: Any) -> None: ...

        signal.signal(signal.SIGUSR1, theirs)  # someone else's handler now
        app._unchain_signals()
        assert signal.getsignal(signal.SIGUSR1) is theirs  # left alone
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # the signal would end the process:
        app._chain_signals()
        signal.raise_signal(signal.SIGUSR1)  # it still will, after the graceful shutdown
        assert server.shutdowns == 3 and len(server.then) == 1
        assert server.then[0].func.__name__ == "_default"
        assert server.then[0].args == (signal.SIGUSR1,)
        app._unchain_signals()
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_signals_are_only_chained_in_the_main_thread(caplog: pytest.LogCaptureFixture) -> None:
    server = _Server()
    app = _App(server, shutdown_signals=(signal.SIGUSR1,))
    caplog.set_level(logging.INFO, "sansio_rooms")
    thread = threading.Thread(target=app._chain_signals)
    thread.start()
    thread.join()
    assert app._chained == []
    assert "not in the main thread" in caplog.text
    assert app.path == "/socket.io/"  # the server's own path when none is given
